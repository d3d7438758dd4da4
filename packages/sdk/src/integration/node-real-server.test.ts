// The Node SDK against the real Ferry server (apps/server) on a loopback port, through a proxy
// that plays a flaky network or a man in the middle where a test needs one.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-web';
import { buildMlp } from '@ferry/compress/testing';
import {
  createFerry,
  createNodePlatform,
  ConnectionError,
  IntegrityError,
  ManifestExpiredError,
  ManifestMismatchError,
  ManifestRollbackError,
  ManifestSignatureError,
  SizeMismatchError,
  type Ferry,
  type FerryError,
  type FerryOptions,
  type Platform,
} from '../platform/node/index.js';
import { FaultyProxy } from '../testing/http-proxy.js';
import { createTestSigner } from '../testing/manifest-signer.js';
import { startRealFerry, startS3, type RealFerry } from '../testing/real-server.js';

let ferry: RealFerry;
let proxy: FaultyProxy;
const dirs: string[] = [];
const clients: Ferry[] = [];

const mlp = (seed: number) => buildMlp({ inputSize: 16, hidden: [8], outputs: 4, seed });
const INPUT = Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 8);

beforeAll(async () => {
  ferry = await startRealFerry();
  ort.env.wasm.numThreads = 1;
});
afterAll(async () => {
  await ferry?.close();
  for (const d of dirs) {
    // (A test that timed out may have left a directory immutable: see "read but not write".)
    if (process.getuid?.() === 0) spawnSync('chattr', ['-R', '-i', d], { stdio: 'ignore' });
    await rm(d, { recursive: true, force: true });
  }
});
beforeEach(async () => {
  proxy = await new FaultyProxy(ferry.url).start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await proxy.stop().catch(() => undefined);
});

async function cacheDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ferry-sdk-it-'));
  dirs.push(d);
  return d;
}

/** A client of this "device" (cache dir); every call is an app start. */
function device(dir: string, extra: Partial<FerryOptions> & { clockSkewMs?: number; platform?: Platform } = {}): Ferry {
  const { clockSkewMs, ...options } = extra;
  const platform = createNodePlatform();
  if (clockSkewMs) platform.now = () => Date.now() + clockSkewMs;
  const client = createFerry({
    serverUrl: proxy.url,
    appKey: ferry.appKey,
    appKeyId: ferry.appKeyId,
    trustedKeys: ferry.jwks,
    cache: { location: dir },
    retry: { retries: 2, baseDelayMs: 20, maxDelayMs: 100 },
    telemetry: { flushIntervalMs: 3_600_000 },
    platform,
    ...options,
  });
  clients.push(client);
  return client;
}

async function expected(bytes: Uint8Array): Promise<number[]> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', INPUT, [1, 16]) });
  await session.release();
  return Array.from(out.logits!.data as Float32Array);
}

async function runModel(model: Awaited<ReturnType<Ferry['getModel']>>): Promise<number[]> {
  const out = await model.run({ input: { type: 'float32', data: INPUT, dims: [1, 16] } });
  return Array.from(out.logits!.data as Float32Array);
}

let modelCount = 0;
async function newModel(): Promise<string> {
  const name = `m${++modelCount}-${Math.random().toString(36).slice(2, 6)}`;
  await ferry.createModel(name, { labels: ['a', 'b', 'c', 'd'] });
  return name;
}

describe('policies against a real server', () => {
  it('latest: downloads, verifies, caches and runs the model the server publishes', async () => {
    const name = await newModel();
    const bytes = mlp(1);
    await ferry.release(name, bytes);
    const dir = await cacheDir();
    const progress: number[] = [];
    const first = device(dir);
    const model = await first.getModel(name, { policy: 'latest', onProgress: (p) => progress.push(p.bytes) });
    expect(model).toMatchObject({ name, version: 1, variant: 'original', backend: 'wasm', source: 'network', size: bytes.byteLength });
    expect(model.labels).toEqual(['a', 'b', 'c', 'd']);
    expect(progress.at(-1)).toBe(bytes.byteLength);
    const out = await runModel(model);
    expect(out).toEqual(await expected(bytes));
    // The cache is written behind getModel; listing the cache waits for it.
    expect((await first.listCachedModels()).map((m) => m.name)).toEqual([name]);
    // Asked again: 304, nothing downloaded.
    const before = proxy.requests.filter((r) => r.path.startsWith('/v1/artifacts')).length;
    const again = await device(dir).getModel(name, { policy: 'latest' });
    expect(again.source).toBe('cache');
    expect(proxy.requests.filter((r) => r.path.startsWith('/v1/artifacts')).length).toBe(before);
    expect(proxy.requests.filter((r) => r.path === '/v1/resolve').at(-1)!.status).toBe(304);
  });

  it('checks manifests with Node’s native Ed25519, on a fresh load and on a cached one', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(40));
    const dir = await cacheDir();
    for (const policy of ['latest', 'local'] as const) {
      const platform = createNodePlatform();
      const check = vi.spyOn(platform, 'verifyEd25519');
      const client = device(dir, { platform });
      await client.getModel(name, { policy });
      await client.close();
      expect(check).toHaveBeenCalled();
      expect(check.mock.results.every((r) => r.value === true)).toBe(true);
    }
  });

  it('local: the cached model without any request; local-then-update: cached now, newest next time', async () => {
    const name = await newModel();
    const v1 = mlp(2);
    await ferry.release(name, v1);
    const dir = await cacheDir();
    const first = device(dir);
    await first.getModel(name, { policy: 'local' });
    await first.close(); // an app run: its cache writes finish behind getModel, close() waits
    const v2 = mlp(3);
    await ferry.release(name, v2);

    const count = proxy.requests.length;
    const local = await device(dir).getModel(name, { policy: 'local' });
    expect(local.version).toBe(1);
    expect(proxy.requests.length).toBe(count);

    const now = await device(dir).getModel(name, { policy: 'local-then-update' });
    expect(now.version).toBe(1);
    expect(await now.update).toMatchObject({ updated: true, version: 2 });
    const next = await device(dir).getModel(name, { policy: 'local' });
    expect(next.version).toBe(2);
    expect(await runModel(next)).toEqual(await expected(v2));
  });

  it('resumes with Range after the connection is cut halfway through the download', async () => {
    const name = await newModel();
    const bytes = buildMlp({ inputSize: 784, hidden: [256], outputs: 10, seed: 4 }); // ~800 KB
    await ferry.release(name, bytes);
    proxy.faults.cutArtifactAfter = { bytes: Math.floor(bytes.byteLength / 2), times: 1 };
    const client = device(await cacheDir());
    const model = await client.getModel(name, { policy: 'latest' });
    expect(model.size).toBe(bytes.byteLength);
    const artifactRequests = proxy.requests.filter((r) => r.path.startsWith('/v1/artifacts'));
    expect(artifactRequests).toHaveLength(2);
    expect(artifactRequests[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/=(\d+)-/.exec(artifactRequests[1]!.headers.range!)![1])).toBeGreaterThan(0);
    expect(artifactRequests[1]!.status).toBe(206);
    await client.telemetry.flush();
    const events = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'download' } });
    expect(events.map((e) => e.payload)).toContainEqual(expect.objectContaining({ resumed: true, fromCache: false, bytes: bytes.byteLength }));
  });

  it('starts offline from the cache when the server is unreachable', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(5));
    const dir = await cacheDir();
    const first = device(dir);
    await first.getModel(name, { policy: 'latest' });
    await first.close();
    await proxy.stop();
    const model = await device(dir).getModel(name, { policy: 'latest' });
    expect(model).toMatchObject({ version: 1, stale: true, source: 'cache' });
    await runModel(model);
    await expect(device(await cacheDir()).getModel(name, { policy: 'latest' })).rejects.toBeInstanceOf(ConnectionError);
  });

  it('falls back to the next candidate when the first fails to load, and reports why', async () => {
    const name = await newModel();
    const bytes = mlp(6);
    const version = await ferry.upload(name, bytes);
    // Ranked first for a CPU (int8 before fp32), but not a model ONNX Runtime can load.
    await ferry.attachVariant(name, version, 'kind=broken-q8&format=onnx&backends=wasm,cpu&precision=int8', new TextEncoder().encode('not an onnx model'));
    await ferry.publish(name, version);
    const client = device(await cacheDir());
    const model = await client.getModel(name, { policy: 'latest' });
    expect(model).toMatchObject({ variant: 'original', backend: 'wasm' });
    expect(model.failures[0]).toMatchObject({ variant: 'broken-q8', backend: 'wasm' });
    expect(await runModel(model)).toEqual(await expected(bytes));
    await client.telemetry.flush();
    const errors = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'error' } });
    expect(errors.map((e) => e.payload)).toContainEqual(expect.objectContaining({ code: 'backend_unavailable', variant: 'broken-q8' }));
    const loads = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'load' } });
    expect(loads.map((e) => e.payload)).toContainEqual(expect.objectContaining({ variant: 'original', backend: 'wasm' }));
  });
});

describe('a device whose capabilities change', () => {
  /** The Node platform, reporting one more feature than it has (as a browser that gained WebGPU would). */
  function gained(feature: string): Platform {
    const platform = createNodePlatform();
    const probe = platform.probeCapabilities.bind(platform);
    platform.probeCapabilities = async (options) => {
      const caps = await probe(options);
      return { ...caps, features: [...caps.features, feature] };
    };
    return platform;
  }

  /** A model whose int8 variant needs `test-accel`, installed (its original on wasm) by a device without it. */
  async function installedWithout(accel: Uint8Array) {
    const name = await newModel();
    const original = mlp(30);
    const version = await ferry.upload(name, original);
    await ferry.attachVariant(name, version, 'kind=accel-q8&format=onnx&backends=wasm&precision=int8&features=test-accel', accel);
    await ferry.publish(name, version);
    const dir = await cacheDir();
    const before = device(dir);
    expect(await before.getModel(name, { policy: 'latest' })).toMatchObject({ variant: 'original', backend: 'wasm' });
    await before.close();
    return { name, dir, version, original };
  }

  const resolves = () => proxy.requests.filter((r) => r.path === '/v1/resolve');
  const artifacts = () => proxy.requests.filter((r) => r.path.startsWith('/v1/artifacts/'));

  it('gets the variant its new capability allows on the next start, then 304s', async () => {
    const accel = mlp(31);
    const { name, dir, version } = await installedWithout(accel);
    const now = device(dir, { platform: gained('test-accel') });
    const cached = await now.getModel(name);
    expect(cached).toMatchObject({ variant: 'original', source: 'cache' });
    expect(await cached.update).toMatchObject({ updated: true, version });
    expect(resolves().at(-1)!.status).toBe(200);
    await now.close();

    const next = device(dir, { platform: gained('test-accel') });
    const upgraded = await next.getModel(name);
    expect(upgraded).toMatchObject({ variant: 'accel-q8', backend: 'wasm', source: 'cache' });
    expect(await runModel(upgraded)).toEqual(await expected(accel));
    const downloads = artifacts().length;
    expect(await upgraded.update).toMatchObject({ updated: false, version });
    expect(resolves().at(-1)!.status).toBe(304);
    expect(artifacts()).toHaveLength(downloads);
    // Until it ran, the cache kept the original's bytes too; now only the new variant's.
    await next.close();
    expect((await device(dir).cacheInfo()).usedBytes).toBe(accel.byteLength);
  });

  it('goes back to the bytes that ran when the new variant fails here, offline too, and is not offered it again', async () => {
    const { name, dir, version, original } = await installedWithout(new TextEncoder().encode('not an onnx model'));
    const now = device(dir, { platform: gained('test-accel') });
    expect(await (await now.getModel(name)).update).toMatchObject({ updated: true, version });
    await now.close();

    // The next start, offline: the new variant does not load, the original's bytes were kept for that.
    await proxy.stop();
    const next = device(dir, { platform: gained('test-accel') });
    const back = await next.getModel(name);
    expect(back).toMatchObject({ variant: 'original', backend: 'wasm', source: 'cache' });
    expect(back.failures).toContainEqual(expect.objectContaining({ variant: 'accel-q8', backend: 'wasm' }));
    expect(await runModel(back)).toEqual(await expected(original));
    await next.close();
    // The failed variant's bytes are gone from the cache; the original's are what it keeps.
    const look = device(dir);
    expect(await look.listCachedModels()).toEqual([expect.objectContaining({ name, variant: 'original', size: original.byteLength })]);
    expect((await look.cacheInfo()).usedBytes).toBe(original.byteLength);

    proxy = await new FaultyProxy(ferry.url).start();

    const downloads = artifacts().length;
    const later = await device(dir, { platform: gained('test-accel') }).getModel(name);
    expect(later).toMatchObject({ variant: 'original', source: 'cache' });
    expect(await later.update).toMatchObject({ updated: false, version });
    expect(resolves().at(-1)!.status).toBe(304);
    expect(artifacts()).toHaveLength(downloads);
  });
});

describe('attacks against a real server: each refused with its own error, the previous good model still served', () => {
  /** A model with v1 installed on a fresh device, v2 published on the server. */
  async function goodThenNew() {
    const name = await newModel();
    const v1 = mlp(10);
    await ferry.release(name, v1);
    const dir = await cacheDir();
    const first = device(dir);
    const good = await first.getModel(name, { policy: 'latest' });
    await first.close();
    const v2 = mlp(11);
    await ferry.release(name, v2);
    const stillServed = async () => {
      const model = await device(dir).getModel(name, { policy: 'local' });
      expect(model).toMatchObject({ version: 1, sha256: good.sha256 });
      expect(await runModel(model)).toEqual(await expected(v1));
    };
    return { name, dir, v2, stillServed };
  }

  async function refused(dir: string, name: string, code: string, type: abstract new (...args: never[]) => FerryError, extra: Parameters<typeof device>[1] = {}) {
    const client = device(dir, extra);
    const err = await client.getModel(name, { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as FerryError).code).toBe(code);
    await client.telemetry.flush();
    const reported = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'verify_failure' } });
    expect(reported.map((e) => (e.payload as { code: string }).code)).toContain(code);
  }

  it('artifact bytes changed in the server’s store → IntegrityError', async () => {
    const { name, dir, v2, stillServed } = await goodThenNew();
    const sha = (await import('node:crypto')).createHash('sha256').update(v2).digest('hex');
    await ferry.tamperBlob(sha);
    await refused(dir, name, 'integrity_mismatch', IntegrityError);
    await stillServed();
  });

  it('more bytes than the manifest says → SizeMismatchError', async () => {
    const { name, dir, stillServed } = await goodThenNew();
    proxy.faults.appendToArtifact = new Uint8Array(1024 * 1024);
    await refused(dir, name, 'size_mismatch', SizeMismatchError);
    await stillServed();
  });

  it('manifest signed by another key → ManifestSignatureError', async () => {
    const { name, dir, stillServed } = await goodThenNew();
    // Same kid as the server's key, other key material: what a forger would send.
    const attacker = await createTestSigner(String(ferry.jwks.keys[0]!.kid));
    const real = await resolveRaw(name, ferry.appKey);
    const payload = JSON.parse(Buffer.from(real.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = await attacker.sign(payload);
    proxy.faults.rewriteResolve = (answer) => (answer.status === 200 ? { status: 200, body: JSON.stringify({ manifest: forged }) } : null);
    await refused(dir, name, 'manifest_signature_invalid', ManifestSignatureError);
    await stillServed();
  });

  it('expired manifest (a frozen feed, seen by a device 7 h later) → ManifestExpiredError', async () => {
    const { name, dir, stillServed } = await goodThenNew();
    await refused(dir, name, 'manifest_expired', ManifestExpiredError, { clockSkewMs: 7 * 3600 * 1000 });
    await stillServed();
  });

  it('manifest for another model → ManifestMismatchError', async () => {
    const { name, dir, stillServed } = await goodThenNew();
    const other = await newModel();
    await ferry.release(other, mlp(12));
    const foreign = await resolveRaw(other, ferry.appKey);
    proxy.faults.rewriteResolve = (answer) => (answer.status === 200 ? { status: 200, body: JSON.stringify({ manifest: foreign }) } : null);
    await refused(dir, name, 'manifest_mismatch', ManifestMismatchError);
    await stillServed();
  });

  it('manifest issued to another app → ManifestMismatchError', async () => {
    const { name, dir, stillServed } = await goodThenNew();
    const otherApp = await ferry.issueAppKey('other app');
    const foreign = await resolveRaw(name, otherApp.key);
    proxy.faults.rewriteResolve = (answer) => (answer.status === 200 ? { status: 200, body: JSON.stringify({ manifest: foreign }) } : null);
    await refused(dir, name, 'manifest_mismatch', ManifestMismatchError);
    await stillServed();
  });

  it('older release replayed → ManifestRollbackError, the newer model still served', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(13));
    const old = await resolveRaw(name, ferry.appKey);
    await ferry.release(name, mlp(14));
    const dir = await cacheDir();
    const first = device(dir);
    const v2 = await first.getModel(name, { policy: 'latest' });
    expect(v2.version).toBe(2);
    await first.close();
    proxy.faults.rewriteResolve = (answer) => (answer.status === 200 || answer.status === 304 ? { status: 200, body: JSON.stringify({ manifest: old }) } : null);
    await refused(dir, name, 'manifest_rollback', ManifestRollbackError);
    const served = await device(dir).getModel(name, { policy: 'local' });
    expect(served.version).toBe(2);
  });

  it('cache file flipped on disk → discarded, fetched again, reported, never run', async () => {
    const name = await newModel();
    const bytes = mlp(15);
    await ferry.release(name, bytes);
    const dir = await cacheDir();
    const first = device(dir);
    const good = await first.getModel(name, { policy: 'latest' });
    await first.close();
    const file = join(dir, 'default', 'artifacts', good.sha256);
    const flipped = Buffer.from(await readFile(file));
    flipped[100] = flipped[100]! ^ 0x01;
    await writeFile(file, flipped);

    const client = device(dir);
    const model = await client.getModel(name, { policy: 'local' });
    expect(model.source).toBe('network');
    expect(await runModel(model)).toEqual(await expected(bytes));
    await client.listCachedModels(); // the good bytes are written behind getModel
    expect(Buffer.from(await readFile(file)).equals(Buffer.from(bytes))).toBe(true);
    await client.telemetry.flush();
    const reported = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'verify_failure' } });
    expect(reported.map((e) => (e.payload as { code: string }).code)).toContain('cache_corrupt');

    // Flipped again with the server gone: refused, nothing runs.
    await writeFile(file, flipped);
    await proxy.stop();
    await expect(device(dir).getModel(name, { policy: 'local' })).rejects.toBeInstanceOf(ConnectionError);
    expect(await readdir(join(dir, 'default', 'artifacts'))).toEqual([]);
  });
});

describe('block digests: downloads checked block by block with WebCrypto, as browsers do', () => {
  // ~1.1 MiB: two blocks of 1 MiB, the last one short.
  const large = (seed: number) => buildMlp({ inputSize: 16, hidden: [512, 512], outputs: 4, seed });
  /** The Node platform as a browser's looks to the core: no native incremental hash, a one-shot WebCrypto digest. */
  function browserLikePlatform(digested: number[]) {
    const { createSha256: _native, ...platform } = createNodePlatform();
    return {
      ...platform,
      async blockSha256(bytes: Uint8Array) {
        digested.push(bytes.byteLength);
        return Buffer.from(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)).toString('hex');
      },
    };
  }

  it('checks each block as it arrives, caches the model once its whole SHA-256 matches, and loads it from the cache', async () => {
    const name = await newModel();
    const bytes = large(30);
    expect(bytes.byteLength).toBeGreaterThan(1024 * 1024);
    await ferry.release(name, bytes);
    const dir = await cacheDir();
    const digested: number[] = [];
    const client = device(dir, { platform: browserLikePlatform(digested) });
    const model = await client.getModel(name, { policy: 'latest' });
    expect(model.source).toBe('network');
    expect(digested).toEqual([1024 * 1024, bytes.byteLength - 1024 * 1024]);
    expect(await runModel(model)).toEqual(await expected(bytes));
    expect((await client.listCachedModels()).map((m) => m.name)).toEqual([name]);
    expect(Buffer.from(await readFile(join(dir, 'default', 'artifacts', model.sha256))).equals(Buffer.from(bytes))).toBe(true);
    const warm = await device(dir, { platform: browserLikePlatform([]) }).getModel(name, { policy: 'local' });
    expect(warm.source).toBe('cache');
  });

  it('artifact bytes changed in the server’s store → IntegrityError at the changed block, the previous good model still served', async () => {
    const name = await newModel();
    const v1 = large(31);
    await ferry.release(name, v1);
    const dir = await cacheDir();
    const first = device(dir, { platform: browserLikePlatform([]) });
    const good = await first.getModel(name, { policy: 'latest' });
    await first.close();
    const v2 = large(32);
    await ferry.release(name, v2);
    await ferry.tamperBlob((await import('node:crypto')).createHash('sha256').update(v2).digest('hex'));
    const client = device(dir, { platform: browserLikePlatform([]) });
    const err = await client.getModel(name, { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toMatch(/^block \d of the artifact/);
    await client.telemetry.flush();
    const reported = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'verify_failure' } });
    expect(reported.map((e) => (e.payload as { code: string }).code)).toContain('integrity_mismatch');
    const model = await device(dir).getModel(name, { policy: 'local' });
    expect(model).toMatchObject({ version: 1, sha256: good.sha256 });
    expect(await runModel(model)).toEqual(await expected(v1));
  });
});

/** A genuine manifest as the server issues it to `appKey` (what a man in the middle could have kept). */
async function resolveRaw(model: string, appKey: string): Promise<string> {
  const res = await fetch(`${ferry.url}/v1/resolve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ferry-app-key': appKey },
    body: JSON.stringify({ model, device: { id: 'man-in-the-middle', platform: 'node', sdk: { version: '0' }, capabilities: { backends: ['wasm', 'cpu'] } } }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { manifest: string }).manifest;
}

describe('keys from the server (jwksUrl) and their rotation', () => {
  it('verifies with the JWKS URL, starts offline with the kept copy, follows a key rotation; pinned old keys refuse the new ones', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(20));
    const byUrl = await cacheDir();
    const pinned = await cacheDir();
    const urlClient = () => device(byUrl, { trustedKeys: undefined, jwksUrl: '/v1/keys' });
    // Each app run ends with close(): the cache is written behind getModel.
    const first = urlClient();
    expect((await first.getModel(name, { policy: 'latest' })).version).toBe(1);
    await first.close();
    const pinnedFirst = device(pinned);
    await pinnedFirst.getModel(name, { policy: 'latest' });
    await pinnedFirst.close();

    await proxy.stop();
    const offline = await urlClient().getModel(name, { policy: 'latest' });
    expect(offline).toMatchObject({ version: 1, stale: true });
    proxy = await new FaultyProxy(ferry.url).start();

    // Rotate the signing key (bootstrap admin; no overlap, so the new key signs at once), then
    // publish: v2's manifest has a new kid.
    const rotated = await ferry.server.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: ferry.server.admin, payload: { overlapHours: 0 } });
    expect(rotated.statusCode, rotated.body).toBe(200);
    await ferry.release(name, mlp(21));
    const client = urlClient();
    expect((await client.getModel(name, { policy: 'latest' })).version).toBe(2);
    expect(proxy.requests.filter((r) => r.path === '/v1/keys').length).toBeGreaterThanOrEqual(1);

    // An app that pinned only the old key must be shipped the new one: until then it refuses, and keeps v1.
    const err = await device(pinned).getModel(name, { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestSignatureError);
    expect((await device(pinned).getModel(name, { policy: 'local' })).version).toBe(1);
  });

  it('keeps a cached model through a key rotation: its manifest is signed anew, so it outlives the old key', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(22));
    const dir = await cacheDir();
    const client = (clockSkewMs = 0) => device(dir, { trustedKeys: undefined, jwksUrl: '/v1/keys', clockSkewMs });
    const first = client();
    expect((await first.getModel(name, { policy: 'latest' })).source).toBe('network');
    await first.close();
    const downloads = () => proxy.requests.filter((r) => r.path.startsWith('/v1/artifacts')).length;
    const downloaded = downloads();

    // The key that signed the cached manifest is replaced and leaves the JWKS at once.
    const rotated = await ferry.server.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: ferry.server.admin, payload: { overlapHours: 0 } });
    expect(rotated.statusCode, rotated.body).toBe(200);
    // The app runs online: the cached model now, and its check for an update gets the same
    // version signed with the new key (200, not 304), which replaces the cached manifest.
    const back = client();
    const now = await back.getModel(name, { policy: 'local-then-update' });
    expect(now).toMatchObject({ version: 1, source: 'cache' });
    expect(await now.update).toMatchObject({ updated: false, version: 1 });
    await back.close();

    // Two hours later the device's copy of the JWKS is refreshed (it has only the new key) …
    const later = client(2 * 3600_000);
    await later.getModel(name, { policy: 'local' });
    await later.close();
    await new Promise((r) => setTimeout(r, 300)); // the background JWKS refresh lands
    // … and offline, the cached model still verifies and runs, with nothing downloaded again.
    expect(downloads()).toBe(downloaded);
    await proxy.stop();
    try {
      const offline = client(2 * 3600_000);
      const model = await offline.getModel(name, { policy: 'local' });
      expect(model).toMatchObject({ version: 1, source: 'cache' });
      await offline.close();
    } finally {
      proxy = await new FaultyProxy(ferry.url).start();
    }
  });
});

describe('artifacts redirected to S3 (FERRY_ARTIFACT_DELIVERY=redirect): the device downloads from the bucket', () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  /** The network between devices (and Ferry) and the bucket. */
  let bucket: FaultyProxy;
  let redirecting: RealFerry;
  /** The network between devices and this Ferry. */
  let front: FaultyProxy;

  beforeAll(async () => {
    s3 = await startS3();
    const objects = `/${s3.config.bucket}/`;
    bucket = await new FaultyProxy(s3.config.endpoint, { isArtifact: (path) => path.startsWith(objects) }).start();
    redirecting = await startRealFerry({ config: { s3: { ...s3.config, endpoint: bucket.url }, artifactDelivery: 'redirect' } });
    front = await new FaultyProxy(redirecting.url).start();
  });
  afterAll(async () => {
    await front?.stop();
    await redirecting?.close();
    await bucket?.stop();
    await s3?.stop();
  });

  const onRedirecting = (): Partial<FerryOptions> => ({ serverUrl: front.url, appKey: redirecting.appKey, appKeyId: redirecting.appKeyId, trustedKeys: redirecting.jwks });
  const artifactAnswers = () => front.requests.filter((r) => r.path.startsWith('/v1/artifacts/')).map((r) => r.status);
  const bucketGets = () => bucket.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/${s3.config.bucket}/`));
  async function released(bytes: Uint8Array): Promise<string> {
    const name = `r${++modelCount}-${Math.random().toString(36).slice(2, 6)}`;
    await redirecting.createModel(name, { labels: ['a', 'b', 'c', 'd'] });
    await redirecting.release(name, bytes);
    return name;
  }

  it('latest: Ferry answers 302 to a presigned URL; the bytes come from the bucket, verified, cached, run; the next start asks nothing of the bucket', async () => {
    const bytes = mlp(31);
    const name = await released(bytes);
    front.requests.length = 0;
    bucket.requests.length = 0;
    const dir = await cacheDir();
    const first = device(dir, onRedirecting());
    const model = await first.getModel(name, { policy: 'latest' });
    expect(model).toMatchObject({ source: 'network', size: bytes.byteLength, version: 1 });
    expect(await runModel(model)).toEqual(await expected(bytes));
    await first.close(); // The app quits (its install written), and starts again.

    expect(artifactAnswers()).toEqual([302]);
    const gets = bucketGets();
    expect(gets.map((r) => r.status)).toEqual([200]);
    expect(gets[0]!.path).toMatch(/X-Amz-Signature=/);
    const again = await device(dir, onRedirecting()).getModel(name, { policy: 'latest' });
    expect(again).toMatchObject({ source: 'cache', version: 1 });
    expect(artifactAnswers()).toEqual([302]);
    expect(bucketGets()).toHaveLength(1);
  });

  it('resumes from the bucket with Range after the connection to it is cut halfway, through a second redirect', async () => {
    const bytes = buildMlp({ inputSize: 784, hidden: [256], outputs: 10, seed: 32 }); // ~800 KB
    const name = await released(bytes);
    front.requests.length = 0;
    bucket.requests.length = 0;
    bucket.faults.cutArtifactAfter = { bytes: Math.floor(bytes.byteLength / 2), times: 1 };
    const client = device(await cacheDir(), onRedirecting());
    const model = await client.getModel(name, { policy: 'latest' });
    expect(model).toMatchObject({ source: 'network', size: bytes.byteLength });
    expect(artifactAnswers()).toEqual([302, 302]);
    const gets = bucketGets();
    expect(gets).toHaveLength(2);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.headers.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(gets[1]!.status).toBe(206);
    await client.telemetry.flush();
    const events = await redirecting.server.app.db.prisma.telemetryEvent.findMany({ where: { model: name, type: 'download' } });
    expect(events.map((e) => e.payload)).toContainEqual(expect.objectContaining({ resumed: true, fromCache: false, bytes: bytes.byteLength }));
  });

  it('bytes changed in the bucket → IntegrityError, the previous good model still served', async () => {
    const name = await released(mlp(33));
    const dir = await cacheDir();
    expect((await device(dir, onRedirecting()).getModel(name, { policy: 'latest' })).version).toBe(1);
    const next = mlp(34);
    const version = await redirecting.upload(name, next);
    const sha = createHash('sha256').update(next).digest('hex');
    await redirecting.tamperBlob(sha);
    await redirecting.publish(name, version);
    const err = await device(dir, onRedirecting()).getModel(name, { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    const kept = await device(dir, onRedirecting()).getModel(name, { policy: 'local' });
    expect(kept.version).toBe(1);
  });
});

describe('several processes on one cache directory', () => {
  /** Runs testing/cache-process.ts: loads `model` into `<root>/r<round>` in each round, at the same moments as the other processes. */
  const cacheProcess = (job: Record<string, unknown>) =>
    new Promise<string>((resolve, reject) => {
      const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'testing', 'cache-process.ts');
      const child = spawn(process.execPath, ['--conditions=@ferry/source', '--import', 'tsx', script], {
        env: { ...process.env, FERRY_TEST_JOB: JSON.stringify(job) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`cache process exited with ${code}: ${out}`))));
    });

  it('three processes, each loading another model into one cache at the same moment: all three stay installed (a lock directory orders their writes)', async () => {
    const models: string[] = [];
    for (const seed of [21, 22, 23]) {
      const name = await newModel();
      await ferry.release(name, mlp(seed));
      models.push(name);
    }
    const root = await cacheDir();
    const rounds = 8;
    // The processes take ~1 s to start; each round starts at the same moment in all three.
    const timing = { rounds, start: Date.now() + 4000, gapMs: 500 };
    const base = { serverUrl: ferry.url, appKey: ferry.appKey, appKeyId: ferry.appKeyId, root, ...timing };
    const network = `done: ${Array(rounds).fill('network').join(' ')}`;
    expect(await Promise.all(models.map((model) => cacheProcess({ ...base, model })))).toEqual([network, network, network]);
    const seen: string[][] = [];
    for (let round = 0; round < rounds; round++) {
      const client = device(join(root, `r${round}`));
      seen.push((await client.listCachedModels()).map((m) => m.name).sort());
    }
    expect(seen).toEqual(Array.from({ length: rounds }, () => [...models].sort()));
    // Each lock was given back: no lock directory is left behind.
    const left = (await readdir(root, { recursive: true })).filter((p) => p.endsWith('lock'));
    expect(left).toEqual([]);
  }, 60_000);

  // A cache the app may read but not write, as on a read-only file system (a container image with
  // its models baked in). Root may write anywhere, except in a directory marked immutable
  // (`chattr +i`, ext4): nothing can be made, renamed or removed in it, by root either.
  it.skipIf(process.getuid?.() !== 0)('a cache the app may read but not write: the model loads from it, and close() does not wait for a lock it cannot take', async () => {
    const name = await newModel();
    await ferry.release(name, mlp(31));
    const root = await cacheDir();
    const base = { serverUrl: ferry.url, appKey: ferry.appKey, appKeyId: ferry.appKeyId, root, model: name, rounds: 1, start: 0, gapMs: 0 };
    expect(await cacheProcess(base)).toBe('done: network');
    const cache = join(root, 'r0', 'default');
    const frozen = [cache, ...(await readdir(cache)).map((d) => join(cache, d))];
    const chattr = (flag: string) => execFileSync('chattr', [flag, ...frozen]);
    chattr('+i');
    try {
      await expect(mkdir(join(cache, 'lock'))).rejects.toMatchObject({ code: 'EPERM' });
      // (Within the vitest timeout: with proper-lockfile's retries each write waited a minute, and close() for them.)
      expect(await cacheProcess({ ...base, policy: 'local' })).toBe('done: cache');
    } finally {
      chattr('-i');
    }
  }, 30_000);
});
