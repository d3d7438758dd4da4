import { describe, expect, it } from 'vitest';
import { CacheCorruptError, ManifestRollbackError } from '../errors.js';
import { sha256Of } from '../../testing/fake-server.js';
import type { PlatformStorage } from '../platform.js';
import { AsyncLock } from './async-lock.js';
import { MemoryArtifactStore, memoryStorage } from './memory-storage.js';
import { ModelCache, type InstalledModel } from './model-cache.js';

const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * seed + 3) % 256);

function cacheOf(maxBytes = 1000, storage = memoryStorage()) {
  let clock = 1;
  return { cache: new ModelCache(storage, { maxBytes, now: () => clock++ }), storage };
}

const record = (model: string, b: Uint8Array, release = 1): InstalledModel => ({
  model,
  jws: 'x.y.z',
  release,
  version: release,
  sha256: sha256Of(b),
  size: b.byteLength,
  variant: 'original',
  backend: 'wasm',
  failures: [],
  installedAt: 0,
});

/** One cache's stores shared by several clients (tabs, workers), with their lock; writes take a while, as IndexedDB's do, so that another client reads in between. */
function sharedStorage(): PlatformStorage {
  const storage = memoryStorage();
  const set = storage.meta.set.bind(storage.meta);
  storage.meta.set = async (key, value) => {
    await new Promise((r) => setTimeout(r, 5));
    return set(key, value);
  };
  const lock = new AsyncLock();
  return { ...storage, exclusive: (section) => lock.run(section) };
}

describe('ModelCache', () => {
  it('keeps the highest accepted release per model and refuses older ones', async () => {
    const { cache } = cacheOf();
    await cache.acceptRelease('digits', 3);
    await cache.acceptRelease('digits', 3);
    await cache.acceptRelease('faces', 1);
    const err = await cache.acceptRelease('digits', 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestRollbackError);
    expect((err as ManifestRollbackError).code).toBe('manifest_rollback');
    await cache.acceptRelease('digits', 4);
    expect(await cache.highestRelease('digits')).toBe(4);
  });

  it('checks a release at once and writes its counter behind, in order, the highest last', async () => {
    const storage = memoryStorage();
    const writes: unknown[] = [];
    const set = storage.meta.set.bind(storage.meta);
    let slow: () => void = () => undefined;
    storage.meta.set = async (key, value) => {
      if (key === 'release/digits' && value === 7) await new Promise<void>((r) => (slow = r));
      writes.push(value);
      return set(key, value);
    };
    const { cache } = cacheOf(1000, storage);
    const first = await cache.acceptRelease('digits', 7);
    // Checked against the release still being written: an older one is refused already.
    await expect(cache.acceptRelease('digits', 6)).rejects.toBeInstanceOf(ManifestRollbackError);
    const second = await cache.acceptRelease('digits', 9);
    expect(await cache.highestRelease('digits')).toBe(9);
    slow();
    await Promise.all([first.persisted, second.persisted]);
    expect(writes).toEqual([7, 9]);
    expect(await storage.meta.get('release/digits')).toBe(9);
    // A fresh cache over the same store sees it.
    expect(await cacheOf(1000, storage).cache.highestRelease('digits')).toBe(9);
  });

  it('installs behind a load: writes wait while a load runs, readers wait for the install; bytes that cannot be stored are not installed', async () => {
    const { cache, storage } = cacheOf();
    const b = bytes(10, 1);
    const release = cache.hold();
    cache.installBehind(record('digits', b), b);
    await cache.acceptRelease('digits', 4);
    await new Promise((r) => setTimeout(r, 5));
    // Held: nothing written yet, though the release is already enforced.
    expect((storage.artifacts as MemoryArtifactStore).entries.size).toBe(0);
    expect(await storage.meta.get('release/digits')).toBeUndefined();
    await expect(cache.acceptRelease('digits', 3)).rejects.toBeInstanceOf(ManifestRollbackError);
    const listed = cache.listInstalled();
    release();
    expect((await listed).map((r) => r.model)).toEqual(['digits']);
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(b) });
    await cache.settle();
    expect(await storage.meta.get('release/digits')).toBe(4);

    const big = bytes(2000, 2);
    cache.installBehind(record('faces', big), big);
    expect(await cache.installed('faces')).toBeUndefined();
    await cache.settle();
    expect((await cache.listInstalled()).map((r) => r.model)).toEqual(['digits']);
  });

  it("installs behind a load the bytes of a record's fallback beside its own; its own evicted to make room, it is installed on the fallback's", async () => {
    const { cache } = cacheOf(150);
    const [gpu, wasm] = [bytes(100, 1), bytes(90, 3)];
    await cache.store(sha256Of(gpu), gpu);
    await cache.install({ ...record('digits', gpu), backend: 'webgpu' });
    const fallback = { sha256: sha256Of(wasm), size: wasm.byteLength, variant: 'int8', backend: 'wasm' };
    // 190 bytes over a budget of 150: storing the fallback's evicts the record's own.
    cache.installBehind({ ...record('digits', gpu), backend: 'webgpu', fallback }, wasm, { of: fallback });
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(wasm), variant: 'int8', backend: 'wasm' });
    expect(await cache.installed('digits')).not.toHaveProperty('fallback');
    expect(await cache.read(sha256Of(wasm), wasm.byteLength)).toEqual({ bytes: wasm });

    const roomy = cacheOf(1000).cache;
    await roomy.store(sha256Of(gpu), gpu);
    roomy.installBehind({ ...record('digits', gpu), backend: 'webgpu', fallback }, wasm, { of: fallback });
    expect(await roomy.installed('digits')).toMatchObject({ sha256: sha256Of(gpu), backend: 'webgpu', fallback });
    expect(await roomy.usedBytes()).toBe(190);
  });

  it('a reader of a model installed behind a load gets it while loads still run (no load waits for itself)', async () => {
    const { cache } = cacheOf();
    const b = bytes(10, 1);
    const release = cache.hold();
    cache.installBehind(record('digits', b), b);
    // Still held: the install runs now because it is needed, and the rest of the held writes stay held.
    await cache.acceptRelease('digits', 2);
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(b) });
    await cache.updateInstalled('digits', { backend: 'cpu' });
    expect(await cache.installed('digits')).toMatchObject({ backend: 'cpu' });
    expect(await cache.storage.meta.get('release/digits')).toBeUndefined();
    release();
    await cache.settle();
    expect(await cache.storage.meta.get('release/digits')).toBe(2);
  });

  it('keeps the release counter when a model is deleted', async () => {
    const { cache } = cacheOf();
    const b = bytes(10, 1);
    await cache.acceptRelease('digits', 5);
    await cache.store(sha256Of(b), b);
    await cache.install(record('digits', b, 5));
    expect(await cache.uninstall('digits')).toBe(true);
    expect(await cache.listInstalled()).toEqual([]);
    await expect(cache.acceptRelease('digits', 4)).rejects.toBeInstanceOf(ManifestRollbackError);
  });

  it('reads back verified bytes, and discards a corrupt entry', async () => {
    const { cache, storage } = cacheOf();
    const b = bytes(100, 3);
    const sha = sha256Of(b);
    await cache.store(sha, b);
    expect(await cache.read(sha, 100)).toEqual({ bytes: b });
    const flipped = b.slice();
    flipped[10] = flipped[10]! ^ 0x80;
    (storage.artifacts as MemoryArtifactStore).entries.set(sha, flipped);
    await expect(cache.read(sha, 100, 'digits')).rejects.toBeInstanceOf(CacheCorruptError);
    expect(await storage.artifacts.match(sha)).toBeUndefined();
    expect(await cache.read(sha, 100)).toEqual({ missing: true });
    // A truncated entry is corrupt too.
    await cache.store(sha, b);
    (storage.artifacts as MemoryArtifactStore).entries.set(sha, b.slice(0, 50));
    await expect(cache.read(sha, 100)).rejects.toBeInstanceOf(CacheCorruptError);
  });

  it('evicts the least recently used artifacts across models to stay within the byte budget', async () => {
    const { cache, storage } = cacheOf(1000);
    const [a, b, c] = [bytes(400, 1), bytes(400, 5), bytes(400, 7)];
    for (const [name, x] of [['a', a], ['b', b]] as const) {
      await cache.store(sha256Of(x), x);
      await cache.install(record(name, x));
    }
    await cache.read(sha256Of(a), 400); // a is now more recent than b
    await cache.store(sha256Of(c), c);
    await cache.install(record('c', c));
    const kept = (await storage.artifacts.list()).map((e) => e.key).sort();
    expect(kept).toEqual([sha256Of(a), sha256Of(c)].sort());
    expect((await cache.listInstalled()).map((r) => r.model).sort()).toEqual(['a', 'c']);
    expect(await cache.usedBytes()).toBe(800);
  });

  it('makes room for a large artifact in one pass: the oldest models evicted, each installed record read once', async () => {
    const { cache, storage } = cacheOf(1000);
    const small = Array.from({ length: 10 }, (_, i) => bytes(100, 11 + 2 * i));
    for (const [i, x] of small.entries()) {
      await cache.store(sha256Of(x), x);
      await cache.install(record(`m${i}`, x));
    }
    const reads: string[] = [];
    const get = storage.meta.get.bind(storage.meta);
    storage.meta.get = (key) => {
      reads.push(key);
      return get(key);
    };
    const large = bytes(650, 3);
    expect(await cache.store(sha256Of(large), large)).toBe(true);
    expect(reads.filter((k) => k.startsWith('installed/')).sort()).toEqual(small.map((_, i) => `installed/m${i}`).sort());
    // 650 bytes within 1000: the seven oldest of the ten models go, the three newest stay.
    expect((await cache.listInstalled()).map((r) => r.model).sort()).toEqual(['m7', 'm8', 'm9']);
    expect(await cache.usedBytes()).toBe(950);
  });

  it('stays within the budget when two clients (tabs, processes) share one cache', async () => {
    const storage = memoryStorage();
    const first = new ModelCache(storage, { maxBytes: 1000, now: () => 1 });
    const second = new ModelCache(storage, { maxBytes: 1000, now: () => 2 });
    const [a, b] = [bytes(600, 1), bytes(600, 5)];
    expect(await second.usedBytes()).toBe(0); // the second has looked at the cache before the first stores
    expect(await first.store(sha256Of(a), a)).toBe(true);
    expect(await second.store(sha256Of(b), b)).toBe(true);
    const held = await storage.artifacts.list();
    expect(held.reduce((sum, e) => sum + e.size, 0)).toBeLessThanOrEqual(1000);
    expect(held.map((e) => e.key)).toEqual([sha256Of(b)]);
  });

  it('two clients of one cache (tabs, workers) writing at once: both installs stay listed, a release counter never goes back', async () => {
    const storage = sharedStorage();
    const tab = (now: number) => new ModelCache(storage, { maxBytes: 1000, now: () => now });
    const [first, second] = [tab(1), tab(2)];
    const [a, b] = [bytes(100, 1), bytes(100, 5)];
    await Promise.all([first.store(sha256Of(a), a), second.store(sha256Of(b), b)]);
    await Promise.all([first.install(record('faces', a)), second.install(record('digits', b))]);
    expect((await tab(3).listInstalled()).map((r) => r.model).sort()).toEqual(['digits', 'faces']);

    // The first accepts release 6 while the second, which has not seen it yet, accepts 5.
    const [six, five] = await Promise.all([first.acceptRelease('digits', 6), second.acceptRelease('digits', 5)]);
    await Promise.all([six.persisted, five.persisted]);
    expect(await tab(4).highestRelease('digits')).toBe(6);

    // Two stores at once that together exceed the budget: the second sees the first's bytes and makes room.
    const [c, d] = [bytes(600, 7), bytes(600, 9)];
    await Promise.all([first.store(sha256Of(c), c), second.store(sha256Of(d), d)]);
    const held = await storage.artifacts.list();
    expect(held.reduce((sum, e) => sum + e.size, 0)).toBeLessThanOrEqual(1000);
  });

  it('a tab that needs room while another installs a download evicts the oldest bytes, not the ones being installed', async () => {
    const storage = sharedStorage();
    const [first, second] = [new ModelCache(storage, { maxBytes: 1000, now: () => 1 }), new ModelCache(storage, { maxBytes: 1000, now: () => 1 })];
    const old = bytes(300, 3);
    await first.store(sha256Of(old), old);
    await first.install(record('old', old));
    const [a, b] = [bytes(400, 1), bytes(400, 5)];
    // 1100 bytes for a budget of 1000: the second tab's store makes room.
    await Promise.all([
      first.storeAndInstall(record('faces', a), a, null),
      second.store(sha256Of(b), b).then(async (ok) => {
        if (ok) await second.install(record('digits', b));
      }),
    ]);
    expect((await storage.artifacts.list()).map((e) => e.key).sort()).toEqual([sha256Of(a), sha256Of(b)].sort());
    expect((await new ModelCache(storage, { maxBytes: 1000, now: () => 1 }).listInstalled()).map((r) => r.model).sort()).toEqual(['digits', 'faces']);
  });

  it('a change drawn up from an installed record leaves alone the record another tab has installed since', async () => {
    const storage = memoryStorage();
    const [first, second] = [new ModelCache(storage, { maxBytes: 1000, now: () => 1 }), new ModelCache(storage, { maxBytes: 1000, now: () => 2 })];
    const [a, b, c] = [bytes(100, 1), bytes(100, 5), bytes(100, 7)];
    for (const x of [a, b, c]) await first.store(sha256Of(x), x);
    await first.install(record('digits', a));
    const seen = (await first.installed('digits'))!;
    // The other tab installs release 2, keeping its previous bytes as the fallback.
    const newer: InstalledModel = { ...record('digits', b, 2), jws: 'x.y.2', fallback: { sha256: sha256Of(c), size: 100, variant: 'small', backend: 'wasm' } };
    await second.install(newer);

    await first.updateInstalled('digits', { backend: 'webgpu', failures: [{ variant: 'original', backend: 'wasm', reason: 'failed' }] }, seen);
    await first.dropFallback('digits', seen);
    expect(await first.uninstall('digits', seen)).toBe(false);
    expect(await second.installed('digits')).toEqual(newer);
    expect((await storage.artifacts.list()).map((e) => e.key).sort()).toEqual([sha256Of(b), sha256Of(c)].sort());

    // Drawn up from the record that is there, they do apply.
    await first.updateInstalled('digits', { backend: 'webgpu' }, newer);
    expect((await first.installed('digits'))!.backend).toBe('webgpu');
  });

  it('does not cache an artifact larger than the whole budget', async () => {
    const { cache, storage } = cacheOf(100);
    const big = bytes(200, 1);
    expect(await cache.store(sha256Of(big), big)).toBe(false);
    expect(await storage.artifacts.list()).toEqual([]);
  });

  it('evicts and retries when the platform reports its quota exceeded', async () => {
    const storage = memoryStorage();
    const artifacts = storage.artifacts as MemoryArtifactStore;
    const realPut = artifacts.put.bind(artifacts);
    // The device holds 2 artifacts, whatever the budget says.
    artifacts.put = async (key, b) => {
      if (artifacts.entries.size >= 2) throw Object.assign(new Error('full'), { name: 'QuotaExceededError' });
      return realPut(key, b);
    };
    const { cache } = cacheOf(10_000, storage);
    const [a, b, c] = [bytes(100, 1), bytes(100, 3), bytes(100, 5)];
    await cache.store(sha256Of(a), a);
    await cache.store(sha256Of(b), b);
    expect(await cache.store(sha256Of(c), c)).toBe(true);
    expect([...artifacts.entries.keys()].sort()).toEqual([sha256Of(b), sha256Of(c)].sort());
  });

  it('deletes the replaced artifact when a model is updated', async () => {
    const { cache, storage } = cacheOf();
    const [v1, v2] = [bytes(100, 1), bytes(100, 3)];
    await cache.store(sha256Of(v1), v1);
    await cache.install(record('digits', v1, 1));
    await cache.store(sha256Of(v2), v2);
    await cache.install(record('digits', v2, 2));
    expect((await storage.artifacts.list()).map((e) => e.key)).toEqual([sha256Of(v2)]);
  });

  it('keeps the bytes a better variant replaced as its fallback until dropped, and evicts such bytes (not run last) before any model’s own', async () => {
    const { cache, storage } = cacheOf(1000);
    const [other, wasm, gpu, next] = [bytes(300, 1), bytes(300, 3), bytes(300, 5), bytes(300, 7)];
    const keys = async () => (await storage.artifacts.list()).map((e) => e.key).sort();
    await cache.store(sha256Of(other), other);
    await cache.install(record('other', other));
    await cache.store(sha256Of(wasm), wasm);
    await cache.install(record('digits', wasm));
    await cache.read(sha256Of(wasm), 300); // the digits model ran last: the other one is the least recently used
    // A better variant of the same release: the bytes that ran are kept beside it.
    const fallback = { sha256: sha256Of(wasm), size: 300, variant: 'original', backend: 'wasm' };
    await cache.store(sha256Of(gpu), gpu);
    await cache.install({ ...record('digits', gpu), variant: 'fp16', backend: null, fallback });
    expect(await keys()).toEqual([sha256Of(other), sha256Of(wasm), sha256Of(gpu)].sort());
    expect((await cache.installed('digits'))?.fallback).toEqual(fallback);
    // Room for a third model: the fallback goes first, though the other model was used longer ago.
    await cache.store(sha256Of(next), next);
    await cache.install(record('next', next));
    expect(await keys()).toEqual([sha256Of(other), sha256Of(gpu), sha256Of(next)].sort());
    expect((await cache.installed('digits'))?.fallback).toBeUndefined();
    expect((await cache.installed('digits'))?.sha256).toBe(sha256Of(gpu));
    // A fallback the cache no longer holds is not recorded.
    await cache.install({ ...record('digits', gpu), fallback });
    expect((await cache.installed('digits'))?.fallback).toBeUndefined();
  });

  it('the last start ran the fallback (no GPU): the model’s own bytes are the spare ones, evicted first, and the model then runs on the fallback’s', async () => {
    const { cache, storage } = cacheOf(1000);
    const [other, wasm, gpu, next] = [bytes(300, 1), bytes(300, 3), bytes(300, 5), bytes(300, 7)];
    const keys = async () => (await storage.artifacts.list()).map((e) => e.key).sort();
    for (const [name, b] of [['other', other], ['digits', wasm]] as const) {
      await cache.store(sha256Of(b), b);
      await cache.install(record(name, b));
    }
    await cache.store(sha256Of(gpu), gpu);
    const fallback = { sha256: sha256Of(wasm), size: 300, variant: 'int8', backend: 'wasm' };
    await cache.install({ ...record('digits', gpu), variant: 'fp16', backend: 'webgpu', fallback });
    // Noted only when it changes, and only for bytes the record holds.
    await cache.markRan('digits', sha256Of(next));
    expect((await cache.installed('digits'))?.fallback?.ranLast).toBeUndefined();
    await cache.markRan('digits', sha256Of(wasm));
    expect((await cache.installed('digits'))?.fallback?.ranLast).toBe(true);
    await cache.store(sha256Of(next), next);
    await cache.install(record('next', next));
    expect(await keys()).toEqual([sha256Of(other), sha256Of(wasm), sha256Of(next)].sort());
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(wasm), variant: 'int8', backend: 'wasm' });
    expect(await cache.installed('digits')).not.toHaveProperty('fallback');
  });

  it('a spare artifact another model runs on is not evicted as spare; the bytes an install replaces go before any other model’s', async () => {
    const { cache, storage } = cacheOf(1000);
    const [old, wasm, gpu, next] = [bytes(200, 1), bytes(300, 3), bytes(300, 5), bytes(300, 7)];
    const keys = async () => (await storage.artifacts.list()).map((e) => e.key).sort();
    await cache.store(sha256Of(old), old);
    await cache.install(record('old', old));
    for (const b of [wasm, gpu]) await cache.store(sha256Of(b), b);
    const fallback = { sha256: sha256Of(wasm), size: 300, variant: 'int8', backend: 'wasm' };
    await cache.install({ ...record('digits', gpu), backend: 'webgpu', fallback });
    // Another model runs on the same int8 bytes: not spare, and the GPU bytes digits runs on are not either.
    await cache.install(record('lite', wasm));
    await cache.store(sha256Of(next), next);
    await cache.install(record('next', next));
    expect(await keys()).toEqual([sha256Of(wasm), sha256Of(gpu), sha256Of(next)].sort());
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(gpu), fallback });
    // A new version of next, its old bytes used last: they make room, not the least recently used.
    await cache.read(sha256Of(next), 300);
    await cache.settle();
    const next2 = bytes(300, 11);
    await cache.store(sha256Of(next2), next2, null, record('next', next2, 2));
    await cache.install(record('next', next2, 2));
    expect(await keys()).toEqual([sha256Of(wasm), sha256Of(gpu), sha256Of(next2)].sort());
  });

  it('deletes a fallback’s bytes when it is dropped, and both artifacts when the model is deleted', async () => {
    const { cache, storage } = cacheOf(1000);
    const [wasm, gpu] = [bytes(100, 3), bytes(100, 5)];
    const keys = async () => (await storage.artifacts.list()).map((e) => e.key).sort();
    await cache.store(sha256Of(wasm), wasm);
    await cache.install(record('digits', wasm));
    await cache.store(sha256Of(gpu), gpu);
    const upgraded = { ...record('digits', gpu), fallback: { sha256: sha256Of(wasm), size: 100, variant: 'original', backend: 'wasm' } };
    await cache.install(upgraded);
    await cache.dropFallback('digits');
    expect(await keys()).toEqual([sha256Of(gpu)]);
    expect(await cache.installed('digits')).toEqual(record('digits', gpu));

    await cache.store(sha256Of(wasm), wasm);
    await cache.install(upgraded);
    await cache.uninstall('digits');
    expect(await keys()).toEqual([]);
  });

  it('goes back to a fallback only from the record it was asked about, and only while its bytes are held', async () => {
    const { cache, storage } = cacheOf(1000);
    const [wasm, gpu] = [bytes(100, 3), bytes(100, 5)];
    const keys = async () => (await storage.artifacts.list()).map((e) => e.key).sort();
    await cache.store(sha256Of(wasm), wasm);
    await cache.store(sha256Of(gpu), gpu);
    const fallback = { sha256: sha256Of(wasm), size: 100, variant: 'original', backend: 'wasm' };
    await cache.install({ ...record('digits', gpu), jws: 'a.b.c', fallback });
    // Asked about another manifest (the record changed meanwhile): nothing changes.
    expect(await cache.backToFallback('digits', 'x.y.z', { jws: 'd.e.f', variant: 'original', backend: 'wasm' })).toBe(false);
    expect((await cache.installed('digits'))?.sha256).toBe(sha256Of(gpu));
    expect(await cache.backToFallback('digits', 'a.b.c', { jws: 'd.e.f', variant: 'original', backend: 'wasm' })).toBe(true);
    expect(await cache.installed('digits')).toMatchObject({ sha256: sha256Of(wasm), jws: 'd.e.f', variant: 'original', backend: 'wasm', failures: [] });
    expect((await cache.installed('digits'))?.fallback).toBeUndefined();
    expect(await keys()).toEqual([sha256Of(wasm)]);
    // A fallback whose bytes are gone: the record stays as it is.
    await cache.store(sha256Of(gpu), gpu);
    await cache.install({ ...record('digits', gpu), jws: 'a.b.c', fallback });
    await storage.artifacts.delete(sha256Of(wasm));
    const fresh = cacheOf(1000, storage).cache;
    expect(await fresh.backToFallback('digits', 'a.b.c', { jws: 'd.e.f', variant: 'original', backend: 'wasm' })).toBe(false);
    expect((await fresh.installed('digits'))?.sha256).toBe(sha256Of(gpu));
  });

  it('rebuilds its index from what the store holds', async () => {
    const storage = memoryStorage();
    const b = bytes(300, 9);
    await storage.artifacts.put(sha256Of(b), b);
    const { cache } = cacheOf(1000, storage);
    expect(await cache.usedBytes()).toBe(300);
  });
});
