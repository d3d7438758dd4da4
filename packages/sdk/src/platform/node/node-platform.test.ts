import { existsSync, statfsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildMlp } from '@ferry/compress/testing';
import { createOrtRuntime } from '../../core/inference/ort-runtime.js';
import { warmUpFeeds } from '../../core/inference/runtime.js';
import { createFerry as createCoreFerry } from '../../core/client/create-ferry.js';
import type { Platform } from '../../core/platform.js';
import { createFakeRuntime } from '../../testing/fake-runtime.js';
import { FakeFerryServer } from '../../testing/fake-server.js';
import { createTestSigner } from '../../testing/manifest-signer.js';
import { asQuotaError, openDirectoryQuickStore, openDirectoryStorage } from './file-storage.js';
import { createNodePlatform } from './node-platform.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-sdk-node-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('directory storage', () => {
  it('stores artifacts and JSON meta as files, atomically, and lists them', async () => {
    const storage = await openDirectoryStorage(join(dir, 'cache'));
    const bytes = new Uint8Array([1, 2, 3]);
    await storage.artifacts.put('a'.repeat(64), bytes);
    expect(await storage.artifacts.match('a'.repeat(64))).toEqual(bytes);
    expect(await storage.artifacts.list()).toEqual([{ key: 'a'.repeat(64), size: 3 }]);
    await storage.meta.set('release/digits', 7);
    await storage.meta.set('telemetry/queue', [{ id: 'x' }]);
    expect(await storage.meta.get('release/digits')).toBe(7);
    expect(await storage.meta.get('telemetry/queue')).toEqual([{ id: 'x' }]);
    expect(await readdir(join(dir, 'cache', 'tmp'))).toEqual([]);
    await storage.artifacts.delete('a'.repeat(64));
    await storage.artifacts.delete('a'.repeat(64));
    expect(await storage.artifacts.match('a'.repeat(64))).toBeUndefined();
    await storage.meta.delete('release/digits');
    expect(await storage.meta.get('release/digits')).toBeUndefined();
  });

  it('reads an artifact while hashing exactly the bytes it returns', async () => {
    const storage = await openDirectoryStorage(join(dir, 'cache'));
    const bytes = new Uint8Array(5 * 1024 * 1024 + 17).map((_, i) => (i * 31) % 253);
    const key = 'b'.repeat(64);
    await storage.artifacts.put(key, bytes);
    const platform = createNodePlatform();
    const hasher = platform.createSha256!();
    const read = await storage.artifacts.matchHashing!(key, hasher);
    expect(Buffer.from(read!).equals(bytes)).toBe(true);
    const expected = platform.createSha256!();
    expected.update(bytes);
    expect(hasher.digestHex()).toBe(expected.digestHex());
    expect(await storage.artifacts.matchHashing!('c'.repeat(64), platform.createSha256!())).toBeUndefined();
    await storage.artifacts.put(key, new Uint8Array(0));
    const empty = platform.createSha256!();
    expect(await storage.artifacts.matchHashing!(key, empty)).toEqual(new Uint8Array(0));
    expect(empty.digestHex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('writes an artifact as it downloads: invisible until committed, nothing left when aborted', async () => {
    const storage = await openDirectoryStorage(join(dir, 'cache'));
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    const writer = storage.artifacts.writer!('d'.repeat(64), bytes.byteLength);
    for (let at = 0; at < bytes.byteLength; at += 16_384) {
      writer.write(bytes.subarray(at, at + 16_384));
      if (at % 65_536 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(await storage.artifacts.list()).toEqual([]);
    await writer.commit();
    expect(Buffer.from((await storage.artifacts.match('d'.repeat(64)))!).equals(bytes)).toBe(true);
    await expect(writer.commit()).rejects.toThrow();

    const dropped = storage.artifacts.writer!('e'.repeat(64), 10);
    dropped.write(bytes.subarray(0, 5));
    await dropped.abort();
    expect((await storage.artifacts.list()).map((a) => a.key)).toEqual(['d'.repeat(64)]);
    expect(await readdir(join(dir, 'cache', 'tmp'))).toEqual([]);

    await rm(join(dir, 'cache', 'tmp'), { recursive: true });
    const failing = storage.artifacts.writer!('f'.repeat(64), 10);
    failing.write(bytes.subarray(0, 10));
    await expect(failing.commit()).rejects.toThrow();
    expect(await storage.artifacts.match('f'.repeat(64))).toBeUndefined();
  });

  it('keeps keys that are not file names safe and reads a damaged meta file as missing', async () => {
    const storage = await openDirectoryStorage(join(dir, 'cache'));
    await storage.meta.set('../../etc/passwd', 1);
    const [name] = await readdir(join(dir, 'cache', 'meta'));
    expect(name).toBe('~%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.json');
    expect(await storage.meta.get('../../etc/passwd')).toBe(1);
    await writeFile(join(dir, 'cache', 'meta', 'broken.json'), '{"half');
    expect(await storage.meta.get('broken')).toBeUndefined();
  });

  it('opens a new cache directory without waiting for it: reads find nothing, the first write makes it', async () => {
    const root = join(dir, 'new', 'cache');
    const storage = await openDirectoryStorage(root);
    expect(await storage.meta.get('install-id')).toBeUndefined();
    expect(await storage.artifacts.match('a'.repeat(64))).toBeUndefined();
    expect(await storage.artifacts.list()).toEqual([]);
    await storage.meta.set('install-id', 'abc12345');
    const writer = storage.artifacts.writer!('b'.repeat(64), 3);
    writer.write(new Uint8Array([1, 2, 3]));
    await writer.commit();
    expect(storage.kind).toBe('directory');
    expect((await readdir(root)).sort()).toEqual(['artifacts', 'meta', 'tmp']);
    const reopened = await openDirectoryStorage(root);
    expect(await reopened.meta.get('install-id')).toBe('abc12345');
    expect(await reopened.artifacts.list()).toEqual([{ key: 'b'.repeat(64), size: 3 }]);
  });

  it('keeps the cache in memory when its directory cannot be made', async () => {
    await writeFile(join(dir, 'a-file'), 'in the way');
    const storage = await openDirectoryStorage(join(dir, 'a-file', 'cache'));
    expect(await storage.meta.get('release/digits')).toBeUndefined();
    await storage.meta.set('release/digits', 3);
    expect(storage.kind).toBe('memory');
    expect(await storage.meta.get('release/digits')).toBe(3);
    await storage.artifacts.put('c'.repeat(64), new Uint8Array([9]));
    expect(await storage.artifacts.match('c'.repeat(64))).toEqual(new Uint8Array([9]));
  });

  it('reports a full disk as QuotaExceededError, other errors as they are', () => {
    const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    expect((asQuotaError(enospc) as Error).name).toBe('QuotaExceededError');
    const eacces = Object.assign(new Error('denied'), { code: 'EACCES' });
    expect(asQuotaError(eacces)).toBe(eacces);
  });
});

describe('quick store (the install id read at once)', () => {
  it("reads a meta value's file synchronously; missing or damaged reads as missing; a value set is this process's copy, the meta store keeps its own", async () => {
    const root = join(dir, 'cache');
    const quick = openDirectoryQuickStore(root);
    expect(quick.get('install-id')).toBeUndefined();
    const storage = await openDirectoryStorage(root);
    await storage.meta.set('install-id', 'abc');
    expect(quick.get('install-id')).toBe('abc');
    await writeFile(join(root, 'meta', 'install-id.json'), '{"trunc');
    expect(quick.get('install-id')).toBeUndefined();
    await storage.meta.set('install-id', 7);
    expect(quick.get('install-id')).toBeUndefined();
    await storage.meta.set('install-id', 'abc');
    quick.set('install-id', 'other');
    expect(await storage.meta.get('install-id')).toBe('abc');
    expect(openDirectoryQuickStore(root).get('install-id')).toBe('other');
    expect(openDirectoryQuickStore(join(dir, 'another')).get('install-id')).toBeUndefined();
  });
});

describe('node platform', () => {
  it("gives downloads plain Uint8Arrays of exactly the size asked, each over an ArrayBuffer of its own (not zeroed: the SDK fills them)", () => {
    const platform = createNodePlatform({ cacheRoot: dir });
    const a = platform.uninitializedBytes!(3 * 1024 * 1024 + 5);
    const b = platform.uninitializedBytes!(10);
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype); // not a Buffer (no pooled slice, no Buffer methods)
    expect([a.byteLength, a.buffer.byteLength, a.byteOffset]).toEqual([3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5, 0]);
    expect([b.byteLength, b.buffer.byteLength]).toEqual([10, 10]);
  });

  it('probes the machine', async () => {
    const caps = await createNodePlatform({ cacheRoot: dir }).probeCapabilities();
    expect(caps).toMatchObject({ platform: 'node', backends: ['wasm', 'cpu'], formats: ['onnx'], runtime: { name: 'node' } });
    expect(caps.features).toContain('wasm-simd');
    expect(caps.cores).toBeGreaterThan(0);
    expect(caps.memoryMB).toBeGreaterThan(100);
    expect(caps.storageMB).toBeGreaterThan(0);
    expect(caps.os).toMatch(/^linux /);
  });

  it.skipIf(!existsSync('/dev/shm'))("measures the free space of the file system the cache is on, also before the cache directory exists", async (ctx) => {
    const onShm = await mkdtemp('/dev/shm/ferry-probe-');
    try {
      const platform = createNodePlatform({ cacheRoot: dir });
      const mb = (path: string) => Math.floor((statfsSync(path).bavail * statfsSync(path).bsize) / (1024 * 1024));
      // Two file systems whose free space differs: which one was measured shows.
      if (Math.abs(mb('/dev/shm') - mb(dir)) < 256) ctx.skip();
      const there = await platform.probeCapabilities({ storage: { namespace: 'default', location: join(onShm, 'not', 'made', 'yet') } });
      const here = await platform.probeCapabilities({ storage: { namespace: 'default' } });
      expect(Math.abs(there.storageMB! - mb('/dev/shm'))).toBeLessThan(64);
      expect(Math.abs(here.storageMB! - mb(dir))).toBeLessThan(64);
    } finally {
      await rm(onShm, { recursive: true, force: true });
    }
  });

  it('probes without failing when a relative cache location cannot be resolved (the working directory was removed)', async () => {
    const cwd = process.cwd();
    const gone = await mkdtemp(join(tmpdir(), 'ferry-cwd-'));
    process.chdir(gone);
    try {
      await rm(gone, { recursive: true });
      const caps = await createNodePlatform({ cacheRoot: dir }).probeCapabilities({ storage: { namespace: 'default', location: 'relative-cache' } });
      expect(caps.platform).toBe('node');
      expect(caps.storageMB).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it("checks Ed25519 signatures with node:crypto, from the key's JWK", async () => {
    const { generateKeyPairSync, sign } = await import('node:crypto');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; x: string };
    const data = new TextEncoder().encode('header.payload');
    const signature = new Uint8Array(sign(null, data, privateKey));
    const verify = createNodePlatform().verifyEd25519!;
    expect(verify(jwk, data, signature)).toBe(true);
    expect(verify(jwk, new TextEncoder().encode('header.payloaD'), signature)).toBe(false);
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as typeof jwk;
    expect(verify(other, data, signature)).toBe(false);
  });

  it('hashes with node:crypto', () => {
    const h = createNodePlatform().createSha256!();
    h.update(new TextEncoder().encode('abc'));
    expect(h.digestHex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('loads onnxruntime-web next to the package and runs a real model on wasm', async () => {
    const platform = createNodePlatform();
    const runtime = createOrtRuntime(() => platform.loadOrt!());
    const session = await runtime.createSession(buildMlp({ inputSize: 4, hidden: [8], outputs: 3 }), 'wasm');
    expect(session.inputNames).toEqual(['input']);
    const feeds = warmUpFeeds(runtime, [{ name: 'input', type: 'float32', shape: ['N', 4] }])!;
    const out = await session.run(feeds);
    expect(out.logits!.dims).toEqual([1, 3]);
    expect(session.inputInfo).toEqual([{ name: 'input', type: 'float32', shape: ['N', 4] }]);
    await session.release();
    await expect(runtime.createSession(buildMlp(), 'webgpu')).rejects.toThrow();
    expect(runtime.supports('cpu')).toBe(true);
    expect(runtime.supports('coreml')).toBe(false);
    expect(runtime.supports('webgl')).toBe(false);
    expect(createOrtRuntime(() => platform.loadOrt!(), { backends: ['webgl', 'wasm'] }).supports('webgl')).toBe(true);
  });
});

describe('Node client', () => {
  it('falls back to an in-memory cache when the cache directory cannot be created', async () => {
    const { createFerry } = await import('./index.js');
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a directory');
    const ferry = createFerry({ serverUrl: 'http://127.0.0.1:9', appKey: 'k', trustedKeys: { keys: [] }, cache: { location: join(blocker, 'cache') }, telemetry: false });
    expect(await ferry.cacheInfo()).toMatchObject({ kind: 'memory', usedBytes: 0 });
    await ferry.close();
  });

  it('two clients made at once on a new cache in one process ask under one install id, which the cache keeps', async () => {
    const server = new FakeFerryServer(await createTestSigner());
    await server.publish('digits', new Uint8Array(3000).map((_, i) => i % 251));
    const node = createNodePlatform({ cacheRoot: join(dir, 'root') });
    const start = () => createCoreFerry({ platform: node, fetch: server.fetch, serverUrl: server.origin, appKey: server.appKey, trustedKeys: server.signer.publicJwk, runtime: createFakeRuntime(), telemetry: false });
    const [a, b] = [start(), start()];
    await Promise.all([a.getModel('digits', { policy: 'latest' }), b.getModel('digits', { policy: 'latest' })]);
    await Promise.all([a.close(), b.close()]);
    const ids = new Set(server.resolveBodies.map((r) => r.device.id));
    expect(ids.size).toBe(1);
    const storage = await openDirectoryStorage(join(dir, 'root', 'default'));
    expect(await storage.meta.get('install-id')).toBe([...ids][0]);
  });

  it('two clients of one process on one cache directory, each loading another model at once: both models stay installed', async () => {
    const server = new FakeFerryServer(await createTestSigner());
    for (const [name, seed] of [['faces', 7], ['digits', 11]] as const) await server.publish(name, new Uint8Array(3000).map((_, i) => (i * seed) % 251));
    const node = createNodePlatform({ cacheRoot: join(dir, 'root') });
    const start = () => createCoreFerry({ platform: node, fetch: server.fetch, serverUrl: server.origin, appKey: server.appKey, trustedKeys: server.signer.publicJwk, runtime: createFakeRuntime(), telemetry: false });
    for (let round = 0; round < 5; round++) {
      const [a, b] = [start(), start()];
      await Promise.all([a.getModel('faces', { policy: 'latest' }), b.getModel('digits', { policy: 'latest' })]);
      await Promise.all([a.close(), b.close()]);
      const after = start();
      expect((await after.listCachedModels()).map((m) => m.name).sort()).toEqual(['digits', 'faces']);
      for (const name of ['digits', 'faces']) await after.deleteCachedModel(name);
      await after.close();
    }
  });

  it("a first start sends its resolve without waiting for the cache directory to open, under the install id the cache then keeps; a restart reads that id at once and asks about what it cached", async () => {
    const server = new FakeFerryServer(await createTestSigner());
    await server.publish('digits', new Uint8Array(3000).map((_, i) => i % 251));
    const node = createNodePlatform({ cacheRoot: join(dir, 'root') });
    // The cache opens only once the server has the resolve: a first start that waited for it would hang.
    let resolveArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (resolveArrived = resolve));
    server.beforeResolve = () => void resolveArrived();
    const start = (held: boolean) => {
      const platform: Platform = { ...node, openStorage: async (o) => (held && (await arrived), node.openStorage(o)) };
      return createCoreFerry({ platform, fetch: server.fetch, serverUrl: server.origin, appKey: server.appKey, trustedKeys: server.signer.publicJwk, runtime: createFakeRuntime(), telemetry: false });
    };
    const first = start(true);
    const loaded = await Promise.race([first.getModel('digits', { policy: 'latest' }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the resolve waited for the cache')), 5000))]);
    expect(loaded.source).toBe('network');
    await first.close();
    const firstId = server.resolveBodies[0]!.device.id;
    expect(openDirectoryQuickStore(join(dir, 'root', 'default')).get('install-id')).toBe(firstId);
    expect(server.resolveBodies[0]!.cached).toBeUndefined();

    const again = start(false);
    await again.getModel('digits', { policy: 'latest' });
    await again.close();
    expect(server.resolveBodies).toHaveLength(2);
    expect(server.resolveBodies[1]!.device.id).toBe(firstId);
    expect(server.resolveBodies[1]!.cached).toMatchObject({ version: 1 });
  });
});
