import { describe, expect, it, vi } from 'vitest';
import { BLOCK_DIGESTS_FEATURE, type ManifestCandidate, type TelemetryEvent } from '@ferry/protocol';
import { memoryStorage, MemoryArtifactStore } from '../cache/memory-storage.js';
import {
  BackendUnavailableError,
  ConnectionError,
  DownloadAbortedError,
  DownloadError,
  DownloadSkippedError,
  FerryError,
  IntegrityError,
  ManifestExpiredError,
  ManifestInvalidError,
  ManifestMismatchError,
  ManifestRollbackError,
  ManifestSignatureError,
  NotFoundError,
  OfflineError,
  SizeMismatchError,
} from '../errors.js';
import type { Capabilities, NetworkState, PlatformStorage } from '../platform.js';
import type { InferenceRuntime } from '../inference/runtime.js';
import { createFakeRuntime, type FakeRuntimeOptions } from '../../testing/fake-runtime.js';
import { FakeFerryServer, sha256Of } from '../../testing/fake-server.js';
import { createTestSigner, testCandidate, testManifest } from '../../testing/manifest-signer.js';
import { createMemoryPlatform } from '../../testing/memory-platform.js';
import { createFerry } from './create-ferry.js';
import type { FerryOptions, GetModelOptions } from './public-types.js';

const modelBytes = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * seed + seed) % 256);
const FEEDS = { input: { type: 'float32', data: new Float32Array([1, 2, 3, 4]), dims: [1, 4] } };

async function world(
  options: {
    capabilities?: Partial<Capabilities>;
    runtime?: FakeRuntimeOptions;
    network?: NetworkState;
    blockSha256?: (bytes: Uint8Array) => Promise<string>;
    uninitializedBytes?: (size: number) => Uint8Array;
    quickStore?: Map<string, string>;
    provisional?: Partial<Capabilities>;
  } = {},
) {
  const signer = await createTestSigner();
  const server = new FakeFerryServer(signer);
  const storage = memoryStorage();
  const runtime = createFakeRuntime(options.runtime);
  const platforms: ReturnType<typeof createMemoryPlatform>[] = [];
  /** A client on this device; each call is an app (re)start sharing the storage. */
  const client = ({
    storageOpens,
    probeAnswers,
    noQuickStore,
    capabilities,
    ...extra
  }: Partial<FerryOptions> & {
    storage?: PlatformStorage;
    storageOpens?: Promise<unknown>;
    probeAnswers?: Promise<unknown>;
    noQuickStore?: boolean;
    /** What this start's probe finds, instead of the world's. */
    capabilities?: Partial<Capabilities>;
  } = {}) => {
    const platform = createMemoryPlatform({
      fetch: server.fetch,
      storage: extra.storage ?? storage,
      capabilities: capabilities ?? options.capabilities,
      network: options.network,
      blockSha256: options.blockSha256,
      uninitializedBytes: options.uninitializedBytes,
      quickStore: noQuickStore ? undefined : options.quickStore,
      storageOpens,
      probeAnswers,
      provisional: options.provisional,
    });
    platforms.push(platform);
    return createFerry({
      platform,
      serverUrl: server.origin,
      appKey: server.appKey,
      trustedKeys: signer.publicJwk,
      runtime,
      retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 },
      telemetry: { flushIntervalMs: 3_600_000, batchSize: 10_000 },
      ...extra,
    });
  };
  /** An app run that loads `model` with `latest` and exits: its client closed, so its cache writes are done. */
  const installOnce = async (model = 'digits') => {
    const ferry = client();
    const loaded = await ferry.getModel(model, { policy: 'latest' });
    await ferry.close();
    return loaded;
  };
  const artifactRequests = () => server.requests.filter((r) => r.path.startsWith('/v1/artifacts')).length;
  const resolveRequests = () => server.requests.filter((r) => r.path === '/v1/resolve').length;
  return { signer, server, storage, runtime, client, installOnce, platforms, artifactRequests, resolveRequests };
}

async function sentEvents(w: Awaited<ReturnType<typeof world>>, ferry: ReturnType<typeof createFerry>): Promise<TelemetryEvent[]> {
  await ferry.telemetry.flush();
  return w.server.telemetry.flatMap((b) => b.events);
}

describe('getModel policies', () => {
  it('latest: resolves, downloads, verifies, caches and runs', async () => {
    const w = await world();
    const bytes = modelBytes(5000);
    await w.server.publish('digits', bytes, { metadata: { labels: ['a', 'b'] } });
    const ferry = w.client();
    const progress: number[] = [];
    const model = await ferry.getModel('digits', { policy: 'latest', onProgress: (p) => progress.push(p.bytes) });
    expect(model).toMatchObject({ name: 'digits', version: 1, release: 1, variant: 'original', backend: 'wasm', source: 'network', stale: false, size: 5000 });
    expect(model.labels).toEqual(['a', 'b']);
    expect(progress.at(-1)).toBe(5000);
    const out = await model.run(FEEDS);
    expect(Array.from(out.logits!.data as Float32Array)).toEqual([10, 5000]);
    expect(await ferry.listCachedModels()).toMatchObject([{ name: 'digits', version: 1, release: 1, backend: 'wasm', sha256: sha256Of(bytes) }]);

    // Asked again: the server answers 304 to `cached`, nothing is downloaded.
    const again = await w.client().getModel('digits', { policy: 'latest' });
    expect(again.source).toBe('cache');
    expect(w.artifactRequests()).toBe(1);
    expect(w.server.resolveBodies.at(-1)!.cached).toEqual({ version: 1, release: 1, sha256: sha256Of(bytes), kid: w.signer.kid, backend: 'wasm' });
  });

  it('sends the device description and pseudonymous install id', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 8192 } });
    await w.server.publish('digits', modelBytes(100));
    await w.client({ app: { version: '2.1.0', country: 'FR' } }).getModel('digits', { policy: 'latest' });
    await w.client().getModel('digits', { policy: 'latest' });
    const [first, second] = w.server.resolveBodies;
    expect(first!.device).toMatchObject({
      platform: 'node',
      appVersion: '2.1.0',
      country: 'FR',
      sdk: { version: expect.any(String) },
      capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], formats: ['onnx'], memoryMB: 8192 },
    });
    expect(first!.device.id).toMatch(/^[0-9a-f]{32}$/);
    expect(second!.device.id).toBe(first!.device.id);
  });

  it('local: serves the cached model without touching the network, and downloads when nothing is cached', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    const first = await w.client().getModel('digits', { policy: 'local' });
    expect(first.source).toBe('network');
    await w.server.publish('digits', modelBytes(100, 3));
    w.server.offline = true;
    const before = w.server.requests.length;
    const model = await w.client().getModel('digits', { policy: 'local' });
    expect(model).toMatchObject({ version: 1, source: 'cache', stale: false, update: null });
    expect(w.server.requests.length).toBe(before);
    await model.run(FEEDS);
  });

  it('local-then-update: serves the cached model now and installs the newest for next time', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    await w.installOnce();
    await w.server.publish('digits', modelBytes(200, 3));
    const ferry = w.client();
    const now = await ferry.getModel('digits', { policy: 'local-then-update' });
    expect(now.version).toBe(1);
    expect(await now.update).toEqual({ updated: true, version: 2, release: 2 });
    const next = await ferry.getModel('digits', { policy: 'local' });
    expect(next).toMatchObject({ version: 2, source: 'cache', size: 200 });
    // The old artifact was replaced, not kept.
    expect((await w.storage.artifacts.list()).map((a) => a.key)).toEqual([next.sha256]);
    // Nothing newer: the update says so.
    const third = await ferry.getModel('digits');
    expect(await third.update).toEqual({ updated: false, version: 2, release: 2 });
  });

  it('offline: latest serves the last verified model (stale), or fails with a typed error when none', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    // The app ran once (the cache write finishes behind getModel, close() waits), then starts again offline.
    await w.installOnce();
    w.server.offline = true;
    const model = await w.client().getModel('digits', { policy: 'latest' });
    expect(model).toMatchObject({ version: 1, stale: true, source: 'cache' });
    await expect(w.client().getModel('faces', { policy: 'latest' })).rejects.toBeInstanceOf(ConnectionError);

    const offline = await world({ network: { online: false } });
    offline.server.offline = true;
    const err = await offline.client().getModel('digits', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfflineError);
    expect((err as FerryError).code).toBe('offline');
  });

  it('local-then-update while offline: serves the cache, the update reports the failure', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    await w.installOnce();
    w.server.offline = true;
    const model = await w.client().getModel('digits');
    expect(model.version).toBe(1);
    const update = await model.update;
    expect(update?.updated).toBe(false);
    expect(update?.error).toBeInstanceOf(ConnectionError);
  });

  it('close() stops a background update that is still downloading, instead of waiting for it', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    await w.installOnce();
    await w.server.publish('digits', modelBytes(200, 3));
    w.server.faults.stall = { times: 1 }; // the new version's bytes never come
    const ferry = w.client({ stallTimeoutMs: 60_000 });
    const model = await ferry.getModel('digits', { policy: 'local-then-update' });
    while (w.artifactRequests() < 1) await new Promise((r) => setTimeout(r, 1));
    const started = Date.now();
    await ferry.close();
    expect(Date.now() - started).toBeLessThan(2000);
    const update = await model.update;
    expect(update).toMatchObject({ updated: false, version: 1 });
    expect(update?.error).toBeInstanceOf(DownloadAbortedError);
    // Nothing of the new version is kept.
    expect((await w.client().listCachedModels()).map((m) => m.version)).toEqual([1]);
  });

  it('turns server errors into typed errors', async () => {
    const w = await world();
    const err = await w.client().getModel('missing', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('model_not_found');
    expect((err as NotFoundError).status).toBe(404);
  });

  it('probes capabilities once per client and freezes them', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    const ferry = w.client();
    await ferry.getModel('digits', { policy: 'latest' });
    await ferry.getModel('digits', { policy: 'latest' });
    const caps = await ferry.capabilities();
    expect(w.platforms[0]!.probes).toBe(1);
    expect(Object.isFrozen(caps)).toBe(true);
    expect(Object.isFrozen(caps.backends)).toBe(true);
  });
});

describe('first start, on a platform with a quick store (localStorage)', () => {
  it('sends the resolve before the cache is open, and keeps the install id in both stores', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    await w.server.publish('digits', modelBytes(3000));
    let open!: () => void;
    const ferry = w.client({ storageOpens: new Promise<void>((resolve) => (open = resolve)) });
    const progress: number[] = [];
    const loading = ferry.getModel('digits', { policy: 'latest', onProgress: (p) => progress.push(p.bytes) });
    // The resolve goes out while the cache is still opening; nothing is downloaded before the load knows it needs to.
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(1));
    expect(w.server.resolveBodies[0]!.cached).toBeUndefined();
    expect(w.artifactRequests()).toBe(0);
    open();
    const model = await loading;
    expect(model).toMatchObject({ source: 'network', version: 1 });
    expect(progress.at(-1)).toBe(3000);
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
    const id = w.server.resolveBodies[0]!.device.id;
    expect(quick.get('default:install-id')).toBe(id);
    expect(await w.storage.meta.get('install-id')).toBe(id);

    // The next start is not a first one: it waits for the cache and sends what it holds (304).
    const again = await w.client().getModel('digits', { policy: 'latest' });
    expect(again.source).toBe('cache');
    expect(w.server.resolveBodies[1]).toMatchObject({ device: { id }, cached: { version: 1, release: 1 } });
    expect(w.artifactRequests()).toBe(1);
  });

  it('does not wait for a slow probe: the resolve describes what the device may have, and the load picks with what the probe found', async () => {
    const quick = new Map<string, string>();
    // A browser with navigator.gpu whose adapter request answers late, and null: no WebGPU after all.
    const w = await world({ quickStore: quick, provisional: { backends: ['webgpu', 'wasm'], features: ['shader-f16', 'wasm-simd'] } });
    const [gpu, cpu] = [modelBytes(2000, 3), modelBytes(3000, 5)];
    await w.server.publish('digits', [gpu, cpu], {}, (c, i) => (i === 0 ? { ...c, backend: 'webgpu', requires: { ...c.requires, backends: ['webgpu'], features: ['shader-f16'] } } : c));
    let answer!: () => void;
    const ferry = w.client({ probeAnswers: new Promise<void>((resolve) => (answer = resolve)) });
    const loading = ferry.getModel('digits', { policy: 'latest' });
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(1));
    expect(w.server.resolveBodies[0]!.device.capabilities).toMatchObject({ backends: ['webgpu', 'wasm'], features: ['shader-f16', 'wasm-simd'] });
    expect(w.artifactRequests()).toBe(0);
    answer();
    const model = await loading;
    expect(model).toMatchObject({ backend: 'wasm', sha256: sha256Of(cpu) });
    expect(model.failures.map((f) => f.reason)).toEqual(['backend "webgpu" is not available here']);
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
    // What the device lacked is not kept as a failure of the release (a later start may have WebGPU).
    expect(await w.storage.meta.get('installed/digits')).toMatchObject({ failures: [] });
    // Later starts (not first ones) describe the device as probed.
    await w.client().getModel('digits', { policy: 'latest' });
    expect(w.server.resolveBodies[1]!.device.capabilities).toMatchObject({ backends: ['wasm'], features: ['wasm-simd'] });
  });

  it('an early answer of which nothing runs here (a version for the WebGPU the device turned out not to have): resolved again, as probed', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick, provisional: { backends: ['webgpu', 'wasm'], features: ['shader-f16', 'wasm-simd'] } });
    const cpu = modelBytes(3000, 5);
    await w.server.publish('digits', cpu);
    // The server's answer to the provisional description: a newer version with a WebGPU variant only, same release.
    const gpu = modelBytes(2000, 3);
    w.server.artifacts.set(sha256Of(gpu), gpu);
    const gpuOnly = testManifest({ model: 'digits', release: 1, version: 2, candidates: [{ ...testCandidate(sha256Of(gpu), gpu.byteLength), backend: 'webgpu' }] });
    w.server.nextManifest = await w.signer.sign(gpuOnly);
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(model).toMatchObject({ version: 1, backend: 'wasm', sha256: sha256Of(cpu) });
    expect(w.resolveRequests()).toBe(2);
    expect(w.server.resolveBodies[1]!.device.capabilities).toMatchObject({ backends: ['wasm'] });
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
  });

  it('close() while a first start checks its manifest stops the download started ahead', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    await w.server.publish('digits', modelBytes(30_000));
    let releaseKeys!: () => void;
    w.server.keysHeld = new Promise<void>((resolve) => (releaseKeys = resolve));
    w.server.faults.hold = { bytes: 8192, until: new Promise(() => undefined) }; // in flight until stopped
    const signals: AbortSignal[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('/v1/artifacts/') && init?.signal) signals.push(init.signal);
      return w.server.fetch(input, init);
    };
    const ferry = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys', fetch });
    const loading = ferry.getModel('digits', { policy: 'latest' }).catch((err: unknown) => err);
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    const closing = ferry.close();
    releaseKeys();
    await closing;
    expect(await loading).toBeInstanceOf(FerryError);
    expect(signals[0]!.aborted).toBe(true);
  });

  it('a quick store emptied while the cache kept its install id: the answer for the new id is dropped unused, and the load resolves under the kept one', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    const stable = modelBytes(100);
    const staged = modelBytes(120, 3);
    const v1 = await w.server.publish('digits', stable);
    const v2 = await w.server.publish('digits', staged);
    // v2 is staged: only the kept install id is in its rollout; every other device gets v1 (same release).
    w.server.forDevice.set('the-kept-install-id', v2.jws);
    const v1Now = { ...v1.payload, release: v2.payload.release };
    w.server.published.set('digits', { payload: v1Now, jws: await w.signer.sign(v1Now) });
    await w.storage.meta.set('install-id', 'the-kept-install-id');

    let open!: () => void;
    const ferry = w.client({ storageOpens: new Promise<void>((resolve) => (open = resolve)) });
    const progress: number[] = [];
    const loading = ferry.getModel('digits', { policy: 'latest', onProgress: (p) => progress.push(p.bytes) });
    // The early request goes out under a new id and is answered (v1) before the cache opens.
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    open();
    const model = await loading;
    await ferry.close();
    expect(model).toMatchObject({ source: 'network', version: 2, size: staged.length });
    expect(w.server.resolveBodies.map((b) => b.device.id)).toEqual([expect.not.stringMatching(/^the-kept/), 'the-kept-install-id']);
    // Only v2's bytes were fetched: nothing was downloaded ahead from the dropped answer.
    expect(w.server.requests.filter((r) => r.path.startsWith('/v1/artifacts')).map((r) => r.path)).toEqual([`/v1/artifacts/${sha256Of(staged)}`]);
    expect(progress.at(-1)).toBe(staged.length);
    // Nothing of the dropped answer was reported: one resolve event, v2's.
    const resolves = (await sentEvents(w, w.client())).filter((e) => e.type === 'resolve');
    expect(resolves.map((e) => (e as { version?: number }).version)).toEqual([2]);
    expect(quick.get('default:install-id')).toBe('the-kept-install-id');
    expect(await w.storage.meta.get('install-id')).toBe('the-kept-install-id');
  });

  it('two loads on a first start share one download; a load aborted while its early resolve runs stops, and the other is unaffected', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    await w.server.publish('digits', modelBytes(4000));
    await w.server.publish('letters', modelBytes(3000, 5));
    let open!: () => void;
    const ferry = w.client({ storageOpens: new Promise<void>((resolve) => (open = resolve)) });
    const aborted = new AbortController();
    const a = ferry.getModel('digits', { policy: 'latest' });
    const b = ferry.getModel('digits', { policy: 'latest' });
    const c = ferry.getModel('letters', { policy: 'latest', signal: aborted.signal }).catch((err: unknown) => err);
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(3));
    aborted.abort();
    open();
    const [ma, mb] = await Promise.all([a, b]);
    expect(await c).toBeInstanceOf(DownloadAbortedError);
    expect(ma.sha256).toBe(mb.sha256);
    await ferry.close();
    // One download of digits; nothing of letters.
    expect(w.server.requests.filter((r) => r.path.startsWith('/v1/artifacts')).map((r) => r.path)).toEqual([`/v1/artifacts/${ma.sha256}`]);
    expect((await w.client().listCachedModels()).map((m) => m.name)).toEqual(['digits']);
  });

  it('local, with a model cached and the quick store emptied: nothing is sent', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    await w.server.publish('digits', modelBytes(100));
    const first = w.client({ noQuickStore: true, telemetry: false });
    await first.getModel('digits', { policy: 'latest' });
    await first.close();
    const requests = w.server.requests.length;
    const ferry = w.client({ telemetry: false });
    const model = await ferry.getModel('digits', { policy: 'local' });
    await ferry.close();
    expect(model.source).toBe('cache');
    expect(w.server.requests.slice(requests)).toEqual([]);
  });

  it('local-then-update, with a model installed after all: serves it, and the early resolve downloads nothing', async () => {
    const quick = new Map<string, string>();
    const w = await world({ quickStore: quick });
    await w.server.publish('digits', modelBytes(100));
    // Installed by a client that had no quick store: the next one starts as if for the first time.
    const first = w.client({ noQuickStore: true });
    expect(await first.getModel('digits', { policy: 'latest' })).toMatchObject({ version: 1 });
    await first.close();
    await w.server.publish('digits', modelBytes(100, 3));
    const ferry = w.client();
    const progress: number[] = [];
    const model = await ferry.getModel('digits', { onProgress: (p) => progress.push(p.bytes) });
    expect(model).toMatchObject({ source: 'cache', version: 1 });
    expect(await model.update).toMatchObject({ updated: true, version: 2 });
    await ferry.close();
    expect(progress).toEqual([]);
    // v1, then v2 once, by the background update.
    expect(w.artifactRequests()).toBe(2);
    // The early request went out under a new id: nothing of it is reported, only the first client's and the update's resolves.
    const resolves = (await sentEvents(w, w.client())).filter((e) => e.type === 'resolve');
    expect(resolves.map((e) => (e as { version?: number }).version)).toEqual([1, 2]);
  });
});

describe('backends', () => {
  it('falls back to the next candidate when a backend fails to initialise, and says why', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'webgl', 'wasm'] }, runtime: { failInit: ['webgpu'], failRun: ['webgl'] } });
    const [gpu, gl, wasm] = [modelBytes(100, 1), modelBytes(110, 3), modelBytes(120, 5)];
    await w.server.publish('digits', [gpu, gl, wasm, modelBytes(130, 7)], {}, (c, i) => ({ ...c, backend: ['webgpu', 'webgl', 'wasm', 'webnn'][i]!, variant: ['fp16', 'fp16', 'original', 'int8'][i]! }));
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(model).toMatchObject({ backend: 'wasm', variant: 'original', size: 120 });
    expect(model.failures).toEqual([
      { variant: 'fp16', backend: 'webgpu', reason: expect.stringContaining('not available') },
      { variant: 'fp16', backend: 'webgl', reason: expect.stringContaining('failed to run') },
    ]);
    const errors = (await sentEvents(w, ferry)).filter((e) => e.type === 'error');
    expect(errors.map((e) => [e.backend, e.code])).toEqual([
      ['webgpu', 'backend_unavailable'],
      ['webgl', 'backend_unavailable'],
    ]);
    // Restarted, the device remembers which candidates do not work here and loads from cache.
    const again = await w.client().getModel('digits', { policy: 'local' });
    expect(again).toMatchObject({ backend: 'wasm', source: 'cache' });
  });

  it('the manifest sent again in the same release: candidates that failed here are skipped, their bytes not downloaded again', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'] }, runtime: { failInit: ['webgpu'] } });
    await w.server.publish('digits', [modelBytes(100, 1), modelBytes(120, 5)], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm'][i]!, variant: ['fp16', 'original'][i]! }));
    expect(await w.installOnce()).toMatchObject({ backend: 'wasm', source: 'network' });
    expect(w.artifactRequests()).toBe(2);
    // The manifest again, not a 304 (Ferry sends it after a key rotation): re-signed, same release.
    w.server.nextManifest = await w.signer.sign(w.server.published.get('digits')!.payload);
    const again = await w.client().getModel('digits', { policy: 'latest' });
    expect(w.resolveRequests()).toBe(2);
    expect(again).toMatchObject({ backend: 'wasm', source: 'cache' });
    expect(again.failures).toEqual([{ variant: 'fp16', backend: 'webgpu', reason: expect.stringContaining('not available') }]);
    expect(w.artifactRequests()).toBe(2);
  });

  it('a cached model that no longer runs here: the fetch after it downloads none of the candidates that failed, ahead of the manifest check either', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'] }, runtime: { failInit: ['webgpu'] } });
    await w.server.publish('digits', [modelBytes(100, 1), modelBytes(120, 5)], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm'][i]!, variant: ['fp16', 'original'][i]! }));
    expect(await w.installOnce()).toMatchObject({ backend: 'wasm' });
    expect(w.artifactRequests()).toBe(2);
    // Now wasm fails too: the cached model does not open, and the manifest is fetched again.
    const ferry = w.client({ runtime: createFakeRuntime({ failInit: ['webgpu', 'wasm'] }) });
    await expect(ferry.getModel('digits')).rejects.toBeInstanceOf(BackendUnavailableError);
    await ferry.close();
    expect(w.resolveRequests()).toBe(2);
    expect(w.artifactRequests()).toBe(2);
  });

  it('a failure counts for its version only: another version in the same release tries that variant again', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'] }, runtime: { failInit: ['webgpu'] } });
    const variants = (c: ManifestCandidate, i: number) => ({ ...c, backend: ['webgpu', 'wasm'][i]!, variant: ['fp16', 'original'][i]! });
    await w.server.publish('digits', [modelBytes(100, 1), modelBytes(120, 5)], {}, variants);
    expect(await w.installOnce()).toMatchObject({ version: 1, backend: 'wasm' });
    // Version 2 in the same release (a targeted rollout the device moved into), other bytes for the same variant names.
    await w.server.publish('digits', [modelBytes(100, 7), modelBytes(120, 9)], { release: 1 }, variants);
    const v2 = await w.client({ runtime: createFakeRuntime() }).getModel('digits', { policy: 'latest' });
    expect(v2).toMatchObject({ version: 2, release: 1, backend: 'webgpu', variant: 'fp16', failures: [] });
  });

  it('a cached model opened once without a backend it had (WebGPU not found that start): the next start with it runs there again', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'] } });
    // One variant on two backends: the same bytes.
    const bytes = modelBytes(100, 1);
    await w.server.publish('digits', [bytes, bytes], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm'][i]! }));
    expect(await w.installOnce()).toMatchObject({ backend: 'webgpu' });
    const without = w.client({ capabilities: { backends: ['wasm'] } });
    const model = await without.getModel('digits', { policy: 'local' });
    expect(model).toMatchObject({ backend: 'wasm', source: 'cache' });
    expect(model.failures).toEqual([{ variant: 'original', backend: 'webgpu', reason: expect.stringContaining('webgpu') }]);
    await without.close();
    // What the device lacked that start is not kept as a failure of the candidate.
    expect((await w.client().getModel('digits', { policy: 'local' })).backend).toBe('webgpu');
  });

  it('a GPU that comes and goes costs no download: a start without it runs the same bytes on wasm, and fetches no wasm variant', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'] } });
    w.server.rankForDevice = true;
    const [fp16, int8] = [modelBytes(100, 1), modelBytes(90, 3)];
    // As Ferry ranks them for a device with WebGPU; without it, int8 comes first on wasm.
    await w.server.publish('digits', [fp16, int8, fp16], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm', 'wasm'][i]!, variant: ['fp16', 'int8', 'fp16'][i]! }));
    expect(await w.installOnce()).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
    expect(w.artifactRequests()).toBe(1);
    const without = w.client({ capabilities: { backends: ['wasm'] } });
    const model = await without.getModel('digits');
    expect(model).toMatchObject({ variant: 'fp16', backend: 'wasm', source: 'cache' });
    expect(await model.update).toMatchObject({ updated: false });
    await without.close();
    expect(w.artifactRequests()).toBe(1);
    const back = w.client();
    const again = await back.getModel('digits');
    expect(again).toMatchObject({ variant: 'fp16', backend: 'webgpu', source: 'cache' });
    expect(await again.update).toMatchObject({ updated: false });
    await back.close();
    expect(w.artifactRequests()).toBe(1);
  });

  describe('a better variant of the installed version (the server ranks for each device)', () => {
    const GPU = { backends: ['webgpu', 'wasm'] };
    const NO_GPU = { backends: ['wasm'] };
    /** Candidates of [fp16, int8] bytes: fp16 for WebGPU, int8 for wasm. */
    const fp16ThenInt8 = (c: ManifestCandidate, i: number): ManifestCandidate => ({ ...c, backend: ['webgpu', 'wasm'][i]!, variant: ['fp16', 'int8'][i]! });
    /** A WebGPU-only fp16 variant and an int8 one for wasm, installed on a start without the GPU (or with it, `first`). */
    async function gpuOnlyVariant(options: Parameters<typeof world>[0] = {}, first: Partial<Capabilities> = NO_GPU) {
      const w = await world({ capabilities: first, ...options });
      w.server.rankForDevice = true;
      const [fp16, int8] = [modelBytes(100, 1), modelBytes(90, 3)];
      await w.server.publish('digits', [fp16, int8], {}, fp16ThenInt8);
      expect(await w.installOnce()).toMatchObject(first === GPU ? { variant: 'fp16', backend: 'webgpu' } : { variant: 'int8', backend: 'wasm' });
      /** One app start: its model, once its background update is done. */
      const start = async (capabilities: Partial<Capabilities>, extra: Parameters<typeof w.client>[0] = {}) => {
        const ferry = w.client({ capabilities, ...extra });
        const model = await ferry.getModel('digits');
        const update = await model.update;
        await ferry.close();
        return { variant: model.variant, backend: model.backend, updated: update?.updated };
      };
      return { w, fp16, int8, start };
    }

    it('a GPU that comes and goes, with a variant only it runs: two downloads in all, each start on the best it has', async () => {
      const { w, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: true });
      expect(w.artifactRequests()).toBe(2);
      const seen = [];
      for (const caps of [GPU, NO_GPU, GPU, GPU, NO_GPU, NO_GPU, GPU]) seen.push(await start(caps));
      expect(seen.map((m) => `${m.variant}@${m.backend}`)).toEqual(['fp16@webgpu', 'int8@wasm', 'fp16@webgpu', 'fp16@webgpu', 'int8@wasm', 'int8@wasm', 'fp16@webgpu']);
      expect(seen.every((m) => m.updated === false)).toBe(true);
      expect(w.artifactRequests()).toBe(2);
    });

    /**
     * fp32 bytes for WebGPU that also run on wasm, ranked after an int8 variant for wasm only (as
     * Ferry ranks them for a device with WebGPU): installed on a GPU-less start, then the fp32 bytes
     * fetched when WebGPU appears, with the int8 ones kept as their fallback.
     */
    async function fp32OverInt8() {
      const w = await world({ capabilities: NO_GPU });
      w.server.rankForDevice = true;
      const [fp32, int8] = [modelBytes(100, 1), modelBytes(90, 3)];
      await w.server.publish('digits', [fp32, int8, fp32], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm', 'wasm'][i]!, variant: ['original', 'int8', 'original'][i]! }));
      const start = async (capabilities: Partial<Capabilities>, extra: { runtime?: ReturnType<typeof createFakeRuntime>; policy?: 'local'; trustedKeys?: FerryOptions['trustedKeys'] } = {}) => {
        const { policy: _, ...options } = extra;
        const ferry = w.client({ capabilities, ...options });
        try {
          const model = await ferry.getModel('digits', extra.policy ? { policy: extra.policy } : {});
          const update = await model.update;
          return `${model.variant}@${model.backend} ${model.source} updated=${update?.updated}`;
        } finally {
          await ferry.close();
        }
      };
      const answers = () => w.server.requests.filter((r) => r.path === '/v1/resolve').map((r) => r.status);
      const record = () => w.client().listCachedModels();
      expect(await start(NO_GPU)).toBe('int8@wasm network updated=undefined');
      expect(await start(GPU)).toBe('int8@wasm cache updated=true');
      expect(await start(GPU)).toBe('original@webgpu cache updated=false');
      return { w, fp32, int8, start, answers, record };
    }
    /** One app start with `latest` on a device with these capabilities: what ran, from where. */
    async function latestStart(w: Awaited<ReturnType<typeof world>>, capabilities: Partial<Capabilities>): Promise<string> {
      const ferry = w.client({ capabilities });
      const model = await ferry.getModel('digits', { policy: 'latest' });
      await ferry.close();
      return `${model.variant}@${model.backend} ${model.source}`;
    }
    /** Reads of `sha256` fail (an I/O error, not a corrupt file) `times` times. */
    function failReads(w: Awaited<ReturnType<typeof world>>, sha256: string, times: number) {
      const match = w.storage.artifacts.match.bind(w.storage.artifacts);
      w.storage.artifacts.match = async (key) => {
        if (key === sha256 && times-- > 0) throw new Error('EIO: i/o error');
        return match(key);
      };
    }

    it('bytes that run on both backends: a start without the GPU runs the fallback the server ranks first on wasm, not the installed bytes on wasm', async () => {
      const { w, start, answers } = await fp32OverInt8();
      expect(await start(NO_GPU)).toBe('int8@wasm cache updated=false');
      expect(await start(GPU)).toBe('original@webgpu cache updated=false');
      expect(answers()).toEqual([200, 200, 304, 304, 304]);
      expect(w.artifactRequests()).toBe(2);
    });

    it('a read error of the fallback on a start without the GPU: the fp32 bytes serve that start, the fallback stays for the next', async () => {
      const { w, int8, start } = await fp32OverInt8();
      failReads(w, sha256Of(int8), 1);
      expect(await start(NO_GPU)).toBe('original@wasm cache updated=false');
      expect(await start(NO_GPU)).toBe('int8@wasm cache updated=false');
      expect(await start(GPU)).toBe('original@webgpu cache updated=false');
      expect(w.artifactRequests()).toBe(2);
    });

    it('the GPU variant fails for real: the start runs the fallback ranked first on wasm, the device goes back to it, nothing is fetched again', async () => {
      const { w, start, answers, record } = await fp32OverInt8();
      const broken = () => createFakeRuntime({ failInit: ['webgpu'] });
      expect(await start(GPU, { runtime: broken() })).toBe('int8@wasm cache updated=false');
      expect((await record()).map((m) => m.variant)).toEqual(['int8']);
      expect(await start(GPU, { runtime: broken() })).toBe('int8@wasm cache updated=false');
      expect(answers().slice(-2)).toEqual([304, 304]);
      expect(w.artifactRequests()).toBe(2);
    });

    it('latest, with a GPU that comes and goes: the GPU variant fetched beside the int8 bytes, each start on the best it holds, no download again', async () => {
      const { w } = await gpuOnlyVariant();
      const latest = (capabilities: Partial<Capabilities>) => latestStart(w, capabilities);
      expect(await latest(GPU)).toBe('fp16@webgpu network');
      expect(await latest(NO_GPU)).toBe('int8@wasm cache');
      expect(await latest(GPU)).toBe('fp16@webgpu cache');
      expect(await latest(NO_GPU)).toBe('int8@wasm cache');
      expect(w.artifactRequests()).toBe(2);
    });

    it('latest, cancelled while it fetches the better variant: the load rejects, the installed model is unchanged', async () => {
      const { w } = await gpuOnlyVariant();
      let release!: () => void;
      w.server.faults.hold = { bytes: 50, until: new Promise<void>((r) => (release = r)) };
      const controller = new AbortController();
      const ferry = w.client({ capabilities: GPU });
      const loading = ferry.getModel('digits', { policy: 'latest', signal: controller.signal }).catch((e: unknown) => e);
      while (w.artifactRequests() < 2) await new Promise((r) => setTimeout(r, 1));
      controller.abort();
      release();
      expect(await loading).toBeInstanceOf(DownloadAbortedError);
      await ferry.close();
      expect((await w.client().listCachedModels()).map((m) => `${m.variant}@${m.backend}`)).toEqual(['int8@wasm']);
    });

    it('latest, fp32 bytes for the GPU over an int8 fallback: a start without the GPU runs the int8 bytes, and the fp32 ones stay', async () => {
      const { w } = await fp32OverInt8();
      const latest = (capabilities: Partial<Capabilities>) => latestStart(w, capabilities);
      expect(await latest(NO_GPU)).toBe('int8@wasm cache');
      expect(await latest(GPU)).toBe('original@webgpu cache');
      expect(w.artifactRequests()).toBe(2);
    });

    it('a key rotation answered to a start without the GPU, then starts with it: the fp32 bytes, which never failed, are not given up', async () => {
      const { w, start } = await fp32OverInt8();
      const rotated = await createTestSigner();
      const keys = [w.signer.publicJwk, rotated.publicJwk];
      const published = w.server.published.get('digits')!.payload;
      // Signed with a new key, as Ferry ranks them for a device without WebGPU: wasm candidates only.
      w.server.nextManifest = await rotated.sign({ ...published, candidates: published.candidates.filter((c) => c.backend === 'wasm') });
      expect(await start(NO_GPU, { trustedKeys: keys })).toBe('int8@wasm cache updated=false');
      // The kept manifest lists the fp32 bytes on wasm only, after int8: a start with the GPU runs
      // int8, reaching no fp32 candidate, and its update brings back the manifest for the GPU.
      expect(await start(GPU, { trustedKeys: keys })).toBe('int8@wasm cache updated=false');
      expect(await start(GPU, { trustedKeys: keys })).toBe('original@webgpu cache updated=false');
      expect(w.artifactRequests()).toBe(2);
    });

    it('a prefetch on a start without the GPU, with the GPU variant fetched and not run yet: it is kept, the next start with the GPU runs it', async () => {
      const { w, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ variant: 'int8', updated: true });
      expect(await start(NO_GPU)).toMatchObject({ variant: 'int8', backend: 'wasm' });
      const ferry = w.client({ capabilities: NO_GPU });
      await ferry.prefetch('digits');
      await ferry.close();
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(w.artifactRequests()).toBe(2);
    });

    it('new bytes whose every candidate failed here (one start with the fallback unreadable too): the next start gives them up for the fallback', async () => {
      const { w, int8, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ updated: true });
      w.server.offline = true;
      failReads(w, sha256Of(int8), 1);
      const broken = createFakeRuntime({ failInit: ['webgpu'] });
      const ferry = w.client({ capabilities: GPU, runtime: broken });
      // Neither runs (and the server cannot be reached): the start fails; fp16's failure is noted.
      await expect(ferry.getModel('digits', { policy: 'local' })).rejects.toThrow();
      await ferry.close();
      // fp16 failed on WebGPU, its only backend: the next start runs int8 and goes back to it for good.
      const next = w.client({ capabilities: GPU, runtime: createFakeRuntime({ failInit: ['webgpu'] }) });
      expect(await next.getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'int8', backend: 'wasm' });
      await next.close();
      const installed = await w.client().listCachedModels();
      expect(installed.map((m) => `${m.variant}@${m.backend}`)).toEqual(['int8@wasm']);
    });

    it('a start without the GPU reads and hashes the fallback bytes only; a start with it, the GPU variant only', async () => {
      const { w, fp16, int8, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ updated: true });
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      const reads: string[] = [];
      const match = w.storage.artifacts.match.bind(w.storage.artifacts);
      w.storage.artifacts.match = (key) => {
        reads.push(key === sha256Of(fp16) ? 'fp16' : key === sha256Of(int8) ? 'int8' : key);
        return match(key);
      };
      const answers = () => w.server.requests.filter((r) => r.path === '/v1/resolve').map((r) => r.status);
      const before = answers().length;
      expect(await start(NO_GPU)).toMatchObject({ variant: 'int8', backend: 'wasm' });
      expect(reads).toEqual(['int8']);
      reads.length = 0;
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      expect(reads).toEqual(['fp16']);
      // Each start asked about the bytes that served it, which are still its best: 304, no manifest sent again.
      expect(answers().slice(before)).toEqual([304, 304]);
    });

    it('new bytes lost from the cache: the start goes back to the ones that ran before, offline', async () => {
      const { w, fp16, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ updated: true });
      await w.storage.artifacts.delete(sha256Of(fp16));
      w.server.offline = true;
      expect(await w.client({ capabilities: GPU }).getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'int8', backend: 'wasm', source: 'cache' });
    });

    it('a key rotation answered to a start without the GPU: back on the fallback under the new key, so the model outlives the old one', async () => {
      const { w, int8, start } = await gpuOnlyVariant();
      await start(GPU);
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      // The server now signs with a new key; for a device without the GPU it lists int8 only.
      const rotated = await createTestSigner();
      const keys = [w.signer.publicJwk, rotated.publicJwk];
      const published = w.server.published.get('digits')!.payload;
      w.server.nextManifest = await rotated.sign({ ...published, candidates: published.candidates.filter((c) => c.sha256 === sha256Of(int8)) });
      expect(await start(NO_GPU, { trustedKeys: keys })).toMatchObject({ variant: 'int8', backend: 'wasm', updated: false });
      // The old key has left: an offline start still has its model.
      w.server.offline = true;
      const later = w.client({ capabilities: NO_GPU, trustedKeys: rotated.publicJwk });
      expect(await later.getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'int8', backend: 'wasm', source: 'cache' });
    });

    it('new bytes that fail to read (not corrupt) once: the start runs the fallback and keeps both, the next runs the new bytes', async () => {
      const { w, fp16, start } = await gpuOnlyVariant();
      await start(GPU);
      failReads(w, sha256Of(fp16), 1);
      w.server.offline = true;
      expect(await w.client({ capabilities: GPU }).getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'int8', backend: 'wasm', source: 'cache' });
      expect(await w.client({ capabilities: GPU }).getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'fp16', backend: 'webgpu', source: 'cache' });
    });

    it('new bytes that fail on the backend they were fetched for are given up, whatever else this device lacks', async () => {
      const w = await world({ capabilities: NO_GPU });
      const [fp16, int8] = [modelBytes(100, 1), modelBytes(90, 3)];
      // Listed on WebNN too (the device never has it): passed over on every start, not a reason to keep them.
      await w.server.publish('digits', [fp16, fp16, int8], {}, (c, i) => ({ ...c, backend: ['webgpu', 'webnn', 'wasm'][i]!, variant: ['fp16', 'fp16', 'int8'][i]! }));
      expect(await w.installOnce()).toMatchObject({ variant: 'int8', backend: 'wasm' });
      const gpu = w.client({ capabilities: GPU });
      expect(await (await gpu.getModel('digits')).update).toMatchObject({ updated: true });
      await gpu.close();
      const failing = w.client({ capabilities: GPU, runtime: createFakeRuntime({ failInit: ['webgpu'] }) });
      expect(await failing.getModel('digits')).toMatchObject({ variant: 'int8', backend: 'wasm' });
      await failing.close();
      expect(await w.client().listCachedModels()).toEqual([expect.objectContaining({ variant: 'int8', backend: 'wasm' })]);
      expect((await w.client().cacheInfo()).usedBytes).toBe(int8.byteLength);
    });

    it('a prefetch on a start without the GPU changes nothing: it asks about the fallback (304), and the next start with the GPU runs the GPU variant, with no download', async () => {
      const { w, start } = await gpuOnlyVariant();
      await start(GPU);
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      const without = w.client({ capabilities: NO_GPU });
      expect(await without.prefetch('digits')).toMatchObject({ variant: 'fp16' });
      await without.close();
      // The int8 fallback is what a start without the GPU runs, and it is still its best: no manifest sent again.
      expect(w.server.requests.filter((r) => r.path === '/v1/resolve').at(-1)?.status).toBe(304);
      expect(await start(GPU)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      expect(w.artifactRequests()).toBe(2);
    });

    it('installed on a first start with the GPU, then starts without it and with it: int8 fetched once beside fp16, each start on its best, 2 downloads', async () => {
      const { w, start } = await gpuOnlyVariant({}, GPU);
      // (Fetched: no update behind it.)
      expect(await start(NO_GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: undefined });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(await start(NO_GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: false });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(w.artifactRequests()).toBe(2);
      expect((await w.client().listCachedModels()).map((m) => `${m.variant}@${m.backend}`)).toEqual(['fp16@webgpu']);
    });

    it('latest, installed on a first start with the GPU, then starts without it and with it: int8 fetched once beside fp16, 2 downloads', async () => {
      const { w } = await gpuOnlyVariant({}, GPU);
      const latest = (capabilities: Partial<Capabilities>) => latestStart(w, capabilities);
      expect(await latest(NO_GPU)).toBe('int8@wasm network');
      expect(await latest(GPU)).toBe('fp16@webgpu cache');
      expect(await latest(NO_GPU)).toBe('int8@wasm cache');
      expect(w.artifactRequests()).toBe(2);
    });

    it('a new release of the same version, fetched by a start with the GPU: the int8 fallback stays, a start without the GPU downloads nothing', async () => {
      const { w, fp16, int8, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ updated: true });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      // Rolled out again: release 2 of version 1, the same bytes.
      await w.server.publish('digits', [fp16, int8], { version: 1 }, fp16ThenInt8);
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: true });
      expect(await start(NO_GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: false });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(w.artifactRequests()).toBe(2);
      expect(await w.client().listCachedModels()).toEqual([expect.objectContaining({ variant: 'fp16', release: 2, version: 1 })]);
    });

    it('latest, a new release of the same version: the int8 fallback stays, a start without the GPU downloads nothing', async () => {
      const { w, fp16, int8 } = await gpuOnlyVariant();
      const latest = (capabilities: Partial<Capabilities>) => latestStart(w, capabilities);
      expect(await latest(GPU)).toBe('fp16@webgpu network');
      await w.server.publish('digits', [fp16, int8], { version: 1 }, fp16ThenInt8);
      expect(await latest(GPU)).toBe('fp16@webgpu cache');
      expect(await latest(NO_GPU)).toBe('int8@wasm cache');
      expect(w.artifactRequests()).toBe(2);
    });

    it('a GPU lost for good, with another model in a tight budget: the GPU variant goes, not the int8 bytes or the other model, each fetched once more at most', async () => {
      const { w, start } = await gpuOnlyVariant();
      const tight = { cache: { maxBytes: 300 } };
      expect(await start(GPU, tight)).toMatchObject({ updated: true });
      expect(await start(GPU, tight)).toMatchObject({ variant: 'fp16', backend: 'webgpu' });
      await w.server.publish('faces', modelBytes(150, 7));
      const run = async (model: string, policy?: GetModelOptions['policy']) => {
        const ferry = w.client({ capabilities: NO_GPU, ...tight });
        try {
          const m = await ferry.getModel(model, { policy });
          await m.update;
          return `${model} ${m.variant}@${m.backend} ${m.source}`;
        } finally {
          await ferry.close();
        }
      };
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await run('faces'), await run('digits'));
      // faces evicts int8 (fp16 ran last); the next start fetches int8 in place of fp16, which goes first.
      expect(seen).toEqual(['faces original@wasm network', 'digits int8@wasm network', ...Array(2).fill(['faces original@wasm cache', 'digits int8@wasm cache']).flat()]);
      expect(w.artifactRequests()).toBe(4);
      w.server.offline = true;
      expect([await run('digits', 'local'), await run('faces', 'local')]).toEqual(['digits int8@wasm cache', 'faces original@wasm cache']);
    });

    it('latest on a start with the GPU, after the same version was rolled out again: the GPU variant that ran is not left spare', async () => {
      const { w, fp16, int8, start } = await gpuOnlyVariant({}, GPU);
      const tight = { cache: { maxBytes: 300 } };
      expect(await start(NO_GPU, tight)).toMatchObject({ variant: 'int8', backend: 'wasm' });
      await w.server.publish('digits', [fp16, int8], { version: 1 }, fp16ThenInt8);
      await w.server.publish('faces', modelBytes(150, 7));
      const ferry = w.client({ capabilities: GPU, ...tight });
      expect(await ferry.getModel('digits', { policy: 'latest' })).toMatchObject({ variant: 'fp16', backend: 'webgpu', source: 'cache' });
      await (await ferry.getModel('faces')).update;
      await ferry.close();
      const downloads = w.artifactRequests();
      expect(await latestStart(w, GPU)).toBe('fp16@webgpu cache');
      expect(w.artifactRequests()).toBe(downloads);
    });

    it('int8 kept beside the GPU variant by a start without the GPU, then another model in a tight budget: the GPU variant goes (int8 ran last), offline the model still starts', async () => {
      const { w, start } = await gpuOnlyVariant({}, GPU);
      const tight = { cache: { maxBytes: 300 } };
      expect(await start(NO_GPU, tight)).toMatchObject({ variant: 'int8', backend: 'wasm' });
      await w.server.publish('faces', modelBytes(150, 7));
      const other = w.client({ capabilities: NO_GPU, ...tight });
      await other.getModel('faces');
      await other.close();
      w.server.offline = true;
      const offline = w.client({ capabilities: NO_GPU, ...tight });
      expect(await offline.getModel('digits', { policy: 'local' })).toMatchObject({ variant: 'int8', backend: 'wasm', source: 'cache' });
      expect((await offline.listCachedModels()).map((m) => `${m.name} ${m.variant}`)).toEqual(['digits int8', 'faces original']);
    });

    it('fp16 listed on wasm before the int8 fallback but failing there: the fallback stays through starts with the GPU, 2 downloads', async () => {
      const w = await world({ capabilities: GPU });
      w.server.rankForDevice = true;
      const [fp16, int8] = [modelBytes(100, 1), modelBytes(90, 3)];
      await w.server.publish('digits', [fp16, fp16, int8], {}, (c, i) => ({ ...c, backend: ['webgpu', 'wasm', 'wasm'][i]!, variant: ['fp16', 'fp16', 'int8'][i]! }));
      const base = createFakeRuntime();
      const runtime: InferenceRuntime = {
        ...base,
        createSession: async (bytes, backend) => {
          if (backend === 'wasm' && bytes.byteLength === fp16.byteLength) throw new Error('fp16 does not run on wasm here');
          return base.createSession(bytes, backend);
        },
      };
      const seen = [];
      for (const capabilities of [GPU, NO_GPU, GPU, NO_GPU, GPU, NO_GPU]) {
        const ferry = w.client({ capabilities, runtime });
        const model = await ferry.getModel('digits');
        await model.update;
        await ferry.close();
        seen.push(`${model.variant}@${model.backend}`);
      }
      expect(seen).toEqual(['fp16@webgpu', 'int8@wasm', 'fp16@webgpu', 'int8@wasm', 'fp16@webgpu', 'int8@wasm']);
      expect(w.artifactRequests()).toBe(2);
    });

    it('latest on starts without the GPU, the int8 fallback held: it asks about int8, 304 each start', async () => {
      const { w } = await gpuOnlyVariant({}, GPU);
      expect(await latestStart(w, NO_GPU)).toBe('int8@wasm network');
      const answers = () => w.server.requests.filter((r) => r.path === '/v1/resolve').map((r) => r.status);
      const before = answers().length;
      for (let i = 0; i < 2; i++) expect(await latestStart(w, NO_GPU)).toBe('int8@wasm cache');
      expect(answers().slice(before)).toEqual([304, 304]);
      expect(await latestStart(w, GPU)).toBe('fp16@webgpu cache');
    });

    it('the int8 bytes already held for another model: kept beside the GPU variant with no room to make, nothing downloaded again', async () => {
      const { w, int8, start } = await gpuOnlyVariant({}, GPU);
      await w.server.publish('lite', int8, {}, (c) => ({ ...c, backend: 'wasm', variant: 'int8' }));
      const tight = { cache: { maxBytes: 250 } };
      await (await w.client({ capabilities: NO_GPU, ...tight }).getModel('lite')).update;
      expect(await start(NO_GPU, tight)).toMatchObject({ variant: 'int8', backend: 'wasm' });
      expect(await start(GPU, tight)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(w.artifactRequests()).toBe(2);
    });

    it('the fallback found corrupt on a start without the GPU: int8 fetched again beside fp16, which the next start with the GPU runs with no download', async () => {
      const { w, int8, start } = await gpuOnlyVariant();
      expect(await start(GPU)).toMatchObject({ updated: true });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      await w.storage.artifacts.put(sha256Of(int8), new Uint8Array(int8.byteLength));
      expect(await start(NO_GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: undefined });
      expect(await start(GPU)).toEqual({ variant: 'fp16', backend: 'webgpu', updated: false });
      expect(await start(NO_GPU)).toEqual({ variant: 'int8', backend: 'wasm', updated: false });
      expect(w.artifactRequests()).toBe(3);
    });

    it('keeps every failure of the version, so the server is told of them all and nothing that failed here is fetched again', async () => {
      // fp16 needs shader-f16, which the device gains; fp32 on WebGL fails here from the start.
      const caps = { backends: ['webgpu', 'webgl', 'wasm'], features: [] as string[] };
      const w = await world({ capabilities: caps, runtime: { failInit: ['webgl'] } });
      w.server.rankForDevice = true;
      const list = [modelBytes(100, 1), modelBytes(110, 5), modelBytes(90, 3)];
      await w.server.publish('digits', list, {}, (c, i) => ({
        ...c,
        backend: ['webgpu', 'webgl', 'wasm'][i]!,
        variant: ['fp16', 'fp32', 'int8'][i]!,
        requires: { ...c.requires, features: i === 0 ? ['shader-f16'] : [] },
      }));
      expect(await w.installOnce()).toMatchObject({ variant: 'int8', backend: 'wasm' });
      expect(w.artifactRequests()).toBe(2);
      const gained = { ...caps, features: ['shader-f16'] };
      const failing = createFakeRuntime({ failInit: ['webgl', 'webgpu'] });
      for (let i = 0; i < 3; i++) {
        const ferry = w.client({ capabilities: gained, runtime: failing });
        const model = await ferry.getModel('digits');
        await model.update;
        await ferry.close();
        expect(model).toMatchObject({ variant: 'int8', backend: 'wasm' });
      }
      // fp16 fetched once, failed once; fp32 never fetched again.
      expect(w.artifactRequests()).toBe(3);
      expect(w.server.resolveBodies.at(-1)!.cached?.failed).toEqual(expect.arrayContaining([{ variant: 'fp32', backend: 'webgl' }, { variant: 'fp16', backend: 'webgpu' }]));
    });
  });

  it('skips candidates this device cannot run (backend, features, memory) before downloading', async () => {
    const w = await world({ capabilities: { backends: ['webgpu', 'wasm'], features: [], memoryMB: 1024 } });
    await w.server.publish('digits', [modelBytes(100, 1), modelBytes(100, 3), modelBytes(100, 5)], {}, (c, i) =>
      [
        { ...c, backend: 'webgpu', requires: { ...c.requires, features: ['shader-f16'] } },
        { ...c, requires: { ...c.requires, minMemoryMB: 4096 } },
        c,
      ][i]!,
    );
    const model = await w.client().getModel('digits', { policy: 'latest' });
    expect(model.failures.map((f) => f.reason)).toEqual(['needs shader-f16', 'needs 4096 MB of memory']);
    expect(w.artifactRequests()).toBe(1);
  });

  it('throws BackendUnavailableError with every reason when nothing runs', async () => {
    const w = await world({ runtime: { failInit: ['wasm'] } });
    await w.server.publish('digits', modelBytes(100));
    const err = await w.client().getModel('digits', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).failures).toHaveLength(1);
    expect(await w.client().listCachedModels()).toEqual([]);
  });

  it('shares one session between handles of the same model and releases it with the last', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100));
    const ferry = w.client();
    const a = await ferry.getModel('digits', { policy: 'latest' });
    const b = await ferry.getModel('digits', { policy: 'local' });
    expect(w.runtime.created).toHaveLength(1);
    await a.dispose();
    expect(w.runtime.released).toBe(0);
    await b.dispose();
    expect(w.runtime.released).toBe(1);
  });
});

describe('download conditions and cancellation', () => {
  it('prefers a candidate within maxBytes, and skips the download when none fits', async () => {
    const w = await world();
    await w.server.publish('digits', [modelBytes(5000, 1), modelBytes(1000, 3)], {}, (c, i) => ({ ...c, variant: i ? 'int8' : 'original' }));
    const model = await w.client().getModel('digits', { policy: 'latest', conditions: { maxBytes: 2000 } });
    expect(model.variant).toBe('int8');

    const fresh = await world();
    await fresh.server.publish('digits', modelBytes(5000));
    const err = await fresh.client().getModel('digits', { policy: 'latest', conditions: { maxBytes: 100 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadSkippedError);
    expect((err as FerryError).code).toBe('download_skipped');
    expect(fresh.artifactRequests()).toBe(0);
  });

  it('counts the smallest encoding against maxBytes', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(5000), {}, (c) => ({ ...c, encodings: [{ encoding: 'br', size: 900 }] }));
    await expect(w.client().getModel('digits', { policy: 'latest', conditions: { maxBytes: 1000 } })).resolves.toBeTruthy();
  });

  it('skips downloads on metered networks or Save-Data when asked, serving the cached model', async () => {
    const w = await world({ network: { metered: true } });
    await w.server.publish('digits', modelBytes(100));
    await w.installOnce();
    await w.server.publish('digits', modelBytes(100, 3));
    const model = await w.client().getModel('digits', { policy: 'latest', conditions: { allowMetered: false } });
    expect(model).toMatchObject({ version: 1, stale: true });

    const saver = await world({ network: { saveData: true } });
    await saver.server.publish('digits', modelBytes(100));
    await expect(saver.client().getModel('digits', { policy: 'latest', conditions: { allowMetered: false } })).rejects.toBeInstanceOf(DownloadSkippedError);
  });

  it('cancels with an AbortSignal, leaving nothing half-installed', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(50_000));
    const controller = new AbortController();
    const err = await w
      .client()
      .getModel('digits', { policy: 'latest', signal: controller.signal, onProgress: (p) => p.bytes > 10_000 && controller.abort() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadAbortedError);
    expect(await w.client().listCachedModels()).toEqual([]);
    expect(await w.storage.artifacts.list()).toEqual([]);
  });

  /** Two loads of one model, the second started while the first's download is held in flight. */
  async function twoLoads(w: Awaited<ReturnType<typeof world>>, first: GetModelOptions, second: GetModelOptions) {
    let release!: () => void;
    w.server.faults.hold = { bytes: 8192, until: new Promise<void>((r) => (release = r)) };
    const ferry = w.client();
    const a = ferry.getModel('digits', { policy: 'latest', ...first });
    while (w.artifactRequests() < 1) await new Promise((r) => setTimeout(r, 1));
    const b = ferry.getModel('digits', { policy: 'latest', ...second });
    while (w.resolveRequests() < 2) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 50)); // the second verifies its manifest and joins
    release();
    return { ferry, results: await Promise.allSettled([a, b]) };
  }

  it('shares one download between two loads, each with its own progress and its own signal', async () => {
    const w = await world();
    const bytes = modelBytes(60_000);
    await w.server.publish('digits', bytes);
    const first = new AbortController();
    const progress = { first: [] as number[], second: [] as number[] };
    const { ferry, results } = await twoLoads(
      w,
      { signal: first.signal, onProgress: (p) => progress.first.push(p.bytes) },
      {
        onProgress: (p) => {
          progress.second.push(p.bytes);
          if (p.bytes > 20_000) first.abort();
        },
      },
    );
    const [ra, rb] = results;
    expect(ra.status === 'rejected' && ra.reason).toBeInstanceOf(DownloadAbortedError);
    expect(rb.status === 'fulfilled' && rb.value.sha256).toBe(sha256Of(bytes));
    expect(progress.second.at(-1)).toBe(60_000);
    expect(progress.first.length).toBeGreaterThan(0);
    expect(progress.first.at(-1)!).toBeLessThan(60_000);
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
  });

  it('stops a shared download only when every load that waits for it has aborted', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(60_000));
    const [one, two] = [new AbortController(), new AbortController()];
    const { ferry, results } = await twoLoads(
      w,
      { signal: one.signal, onProgress: (p) => p.bytes > 10_000 && one.abort() },
      { signal: two.signal, onProgress: (p) => p.bytes > 30_000 && two.abort() },
    );
    expect(results.map((r) => r.status === 'rejected' && r.reason instanceof DownloadAbortedError)).toEqual([true, true]);
    expect(w.artifactRequests()).toBe(1);
    expect(await ferry.listCachedModels()).toEqual([]);
    // A later load is not handed the stopped download: it starts its own.
    w.server.faults.hold = undefined;
    const again = await ferry.getModel('digits', { policy: 'latest' });
    expect(again.source).toBe('network');
    expect(w.artifactRequests()).toBe(2);
    await ferry.close();
  });

  it('resumes an interrupted download', async () => {
    const w = await world();
    const bytes = modelBytes(20_000);
    await w.server.publish('digits', bytes);
    w.server.faults.cutAfter = { bytes: 8192, times: 1 };
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(model.sha256).toBe(sha256Of(bytes));
    const download = (await sentEvents(w, ferry)).find((e) => e.type === 'download' && !e.fromCache);
    expect(download).toMatchObject({ resumed: true, bytes: 20_000, encoding: 'identity' });
  });
});

describe('attacks: each refused with its own error, the previous good model still served', () => {
  async function withGoodModel() {
    const w = await world();
    await w.server.publish('digits', modelBytes(1000));
    const good = await w.installOnce();
    expect(good.version).toBe(1);
    const stillServed = async () => {
      const model = await w.client().getModel('digits', { policy: 'local' });
      expect(model).toMatchObject({ version: 1, sha256: good.sha256 });
      await model.run(FEEDS);
    };
    return { ...w, stillServed };
  }

  async function expectRefused(w: Awaited<ReturnType<typeof withGoodModel>>, type: abstract new (...args: never[]) => FerryError, code: string) {
    const ferry = w.client();
    const err = await ferry.getModel('digits', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as FerryError).code).toBe(code);
    const events = await sentEvents(w, ferry);
    expect(events.some((e) => e.type === 'verify_failure' && e.code === code)).toBe(true);
    await w.stillServed();
  }

  it('asks for block digests (once, and only while the features fit the protocol) when the platform can check blocks', async () => {
    const features = async (listed: string[], blockSha256?: (b: Uint8Array) => Promise<string>) => {
      const w = await world({ capabilities: { features: listed }, blockSha256 });
      await w.server.publish('digits', modelBytes(1000));
      const ferry = w.client();
      await ferry.getModel('digits', { policy: 'latest' });
      await ferry.close();
      return w.server.resolveBodies.at(-1)!.device.capabilities.features;
    };
    const digest = async (b: Uint8Array) => sha256Of(b);
    expect(await features(['wasm-simd'])).toEqual(['wasm-simd']);
    expect(await features(['wasm-simd'], digest)).toEqual(['wasm-simd', BLOCK_DIGESTS_FEATURE]);
    expect(await features([BLOCK_DIGESTS_FEATURE, 'wasm-simd'], digest)).toEqual([BLOCK_DIGESTS_FEATURE, 'wasm-simd']);
    const many = Array.from({ length: 64 }, (_, i) => `f${i}`);
    expect(await features(many, digest)).toEqual(many);
  });

  it('artifact bytes changed on the server → IntegrityError', async () => {
    const w = await withGoodModel();
    const v2 = modelBytes(1000, 3);
    await w.server.publish('digits', v2);
    w.server.faults.replaceWith = modelBytes(1000, 5);
    await expectRefused(w, IntegrityError, 'integrity_mismatch');
  });

  it('checks the blocks of a candidate whose digests an earlier candidate with the same bytes listed (manifests list them once)', async () => {
    const digested: number[] = [];
    const w = await world({ blockSha256: async (b) => (digested.push(b.byteLength), sha256Of(b)) });
    const bytes = modelBytes(200_000, 3);
    const block = 64 * 1024;
    const blocks = { size: block, sha256: [0, 1, 2, 3].map((i) => sha256Of(bytes.subarray(i * block, (i + 1) * block))) };
    // The first candidate (WebGPU, which this device lacks) lists them; the second, the same bytes on wasm, does not.
    await w.server.publish('digits', [bytes, bytes], {}, (c, i) => (i === 0 ? { ...c, backend: 'webgpu', blocks } : c));
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(model.backend).toBe('wasm');
    expect(digested).toEqual([block, block, block, 200_000 - 3 * block]);
    await ferry.close();
  });

  it('block digests that match bytes other than the SHA-256 says (a server error): the model runs, is never cached, and is reported', async () => {
    const digested: number[] = [];
    const w = await world({ blockSha256: async (b) => (digested.push(b.byteLength), sha256Of(b)) });
    const bytes = modelBytes(200_000, 3);
    const block = 64 * 1024;
    const blocks = { size: block, sha256: [0, 1, 2, 3].map((i) => sha256Of(bytes.subarray(i * block, (i + 1) * block))) };
    const claimed = sha256Of(modelBytes(200_000, 4));
    const served = sha256Of(bytes);
    await w.server.publish('digits', bytes, {}, (c) => ({ ...c, sha256: claimed, url: `/v1/artifacts/${served}`, blocks }));
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(digested).toEqual([block, block, block, 200_000 - 3 * block]);
    await model.run(FEEDS);
    expect(await ferry.listCachedModels()).toEqual([]);
    const events = await sentEvents(w, ferry);
    expect(events.some((e) => e.type === 'verify_failure' && e.code === 'integrity_mismatch')).toBe(true);
  });

  it('more bytes than the manifest says → SizeMismatchError', async () => {
    const w = await withGoodModel();
    const v2 = modelBytes(1000, 3);
    await w.server.publish('digits', v2);
    const longer = new Uint8Array(100_000);
    longer.set(v2);
    w.server.faults.replaceWith = longer;
    await expectRefused(w, SizeMismatchError, 'size_mismatch');
  });

  it('manifest signed by another key → ManifestSignatureError', async () => {
    const w = await withGoodModel();
    const { payload } = await w.server.publish('digits', modelBytes(1000, 3));
    w.server.nextManifest = await (await createTestSigner(w.signer.kid)).sign(payload);
    await expectRefused(w, ManifestSignatureError, 'manifest_signature_invalid');
  });

  it("a fresh manifest's signature is checked once the download started ahead of it is on its way", async () => {
    const w = await world();
    const bytes = modelBytes(1000, 3);
    await w.server.publish('digits', bytes);
    // The keys come from the server: the check's first step shows when it started.
    const asked: string[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      asked.push(new URL(input instanceof Request ? input.url : String(input)).pathname.replace(/[0-9a-f]{64}$/, ':sha256'));
      return w.server.fetch(input, init);
    };
    const ferry = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys', fetch });
    const model = await ferry.getModel('digits', { policy: 'latest' });
    expect(model.sha256).toBe(sha256Of(bytes));
    expect(asked).toEqual(['/v1/resolve', '/v1/artifacts/:sha256', '/v1/keys']);
    await ferry.close();
  });

  it("a download started ahead whose request cannot even be made fails the load with that failure (it does not wait for ever on the manifest's check)", async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(1000, 3));
    const fetch: typeof globalThis.fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('/v1/artifacts/')) throw new TypeError('no socket left');
      return w.server.fetch(input, init);
    };
    const ferry = w.client({ fetch });
    const failed = await ferry.getModel('digits', { policy: 'latest' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(DownloadError);
    expect((failed as DownloadError).message).toMatch(/no socket left/);
    await ferry.close();
  });

  it('a manifest whose candidate list holds junk before a good candidate: refused as malformed, not hung on the download started ahead of its check', async () => {
    const w = await world();
    const bytes = modelBytes(1000, 3);
    const { payload } = await w.server.publish('digits', bytes);
    // The download ahead takes the good candidate (it has no block list: the list is searched for one).
    const good = { ...payload.candidates[0]!, blocks: undefined };
    w.server.nextManifest = await w.signer.sign({ ...payload, candidates: [null, good] as unknown as ManifestCandidate[] });
    const ferry = w.client();
    const failed = await ferry.getModel('digits', { policy: 'latest' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(ManifestInvalidError);
    expect((failed as Error).message).toMatch(/candidates\[0\] is not an object/);
    await ferry.close();
  });

  it('no memory for a download: the load fails at once with download_failed, the request is stopped, nothing is retried or cached', async () => {
    const w = await world({
      uninitializedBytes: () => {
        throw new RangeError('Array buffer allocation failed');
      },
    });
    await w.server.publish('digits', modelBytes(1000, 3));
    const ferry = w.client();
    const failed = await ferry.getModel('digits', { policy: 'latest' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(DownloadError);
    expect(failed).toMatchObject({ code: 'download_failed', message: expect.stringMatching(/no memory for the artifact's 1000 bytes/) });
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
    expect((w.storage.artifacts as MemoryArtifactStore).entries.size).toBe(0);
  });

  it('download buffers the platform does not zero: a download cut halfway and resumed, or started over, installs exactly the published bytes', async () => {
    // Buffers full of a marker byte: any byte not written by the download would show.
    const w = await world({ uninitializedBytes: (size) => new Uint8Array(size).fill(0xa5) });
    const bytes = modelBytes(40_000, 3);
    await w.server.publish('digits', bytes);
    w.server.faults.cutAfter = { bytes: 15_000, times: 1 };
    const resumed = w.client();
    expect((await resumed.getModel('digits', { policy: 'latest' })).sha256).toBe(sha256Of(bytes));
    await resumed.close();
    expect(w.server.requests.filter((r) => r.path.startsWith('/v1/artifacts/')).map((r) => r.headers.range)).toEqual([undefined, 'bytes=15000-']);
    expect(await w.storage.artifacts.match(sha256Of(bytes))).toEqual(bytes);

    const w2 = await world({ uninitializedBytes: (size) => new Uint8Array(size).fill(0xa5) });
    await w2.server.publish('digits', bytes);
    w2.server.faults.cutAfter = { bytes: 15_000, times: 1 };
    w2.server.faults.ignoreRange = true;
    const restarted = w2.client();
    expect((await restarted.getModel('digits', { policy: 'latest' })).sha256).toBe(sha256Of(bytes));
    await restarted.close();
    expect(await w2.storage.artifacts.match(sha256Of(bytes))).toEqual(bytes);
  });

  it('a manifest that does not verify: the download started while it was checked is dropped, not kept or reported', async () => {
    const w = await world();
    const { payload } = await w.server.publish('digits', modelBytes(1000, 3));
    w.server.nextManifest = await (await createTestSigner(w.signer.kid)).sign(payload);
    // Its bytes do not match either: that failure belongs to a manifest that was refused, and is not reported.
    w.server.faults.replaceWith = modelBytes(1000, 5);
    // The keys (fetched from the server here) arrive only once the artifact was served: the
    // download ran ahead of the signature check, which then fails.
    let served: () => void = () => undefined;
    const artifactServed = new Promise<void>((resolve) => (served = resolve));
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.endsWith('/v1/keys')) await artifactServed;
      const res = await w.server.fetch(input, init);
      if (url.includes('/v1/artifacts/')) served();
      return res;
    };
    const ferry = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys', fetch });
    await expect(ferry.getModel('digits', { policy: 'latest' })).rejects.toBeInstanceOf(ManifestSignatureError);
    expect(w.artifactRequests()).toBe(1);
    const events = await sentEvents(w, ferry);
    expect(events.filter((e) => e.type === 'download')).toEqual([]);
    expect(events.filter((e) => e.type === 'verify_failure' || e.type === 'error').map((e) => e.code)).toEqual(['manifest_signature_invalid']);
    await ferry.close();
    expect((w.storage.artifacts as MemoryArtifactStore).entries.size).toBe(0);
    expect(await w.storage.meta.get('installed/digits')).toBeUndefined();
  });

  it('expired manifest → ManifestExpiredError', async () => {
    const w = await withGoodModel();
    const now = Math.floor(Date.now() / 1000);
    const { payload } = await w.server.publish('digits', modelBytes(1000, 3));
    w.server.nextManifest = await w.signer.sign({ ...payload, iat: now - 90_000, exp: now - 86_400 });
    await expectRefused(w, ManifestExpiredError, 'manifest_expired');
  });

  it('manifest for another model → ManifestMismatchError', async () => {
    const w = await withGoodModel();
    const { payload } = await w.server.publish('faces', modelBytes(1000, 3));
    w.server.nextManifest = await w.signer.sign({ ...payload, release: 50 });
    await expectRefused(w, ManifestMismatchError, 'manifest_mismatch');
  });

  it('manifest for another app → ManifestMismatchError', async () => {
    const w = await withGoodModel();
    const { payload } = await w.server.publish('digits', modelBytes(1000, 3));
    w.server.nextManifest = await w.signer.sign({ ...payload, aud: 'another-app-key' });
    await expectRefused(w, ManifestMismatchError, 'manifest_mismatch');
  });

  it('older release replayed → ManifestRollbackError', async () => {
    const w = await withGoodModel();
    const old = w.server.published.get('digits')!.jws;
    await w.server.publish('digits', modelBytes(1000, 3));
    const updater = w.client();
    const v2 = await updater.getModel('digits', { policy: 'latest' });
    expect(v2.release).toBe(2);
    await updater.close(); // the app run ends: its install and release counter are on disk
    w.server.nextManifest = old;
    const ferry = w.client();
    const err = await ferry.getModel('digits', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestRollbackError);
    const served = await w.client().getModel('digits', { policy: 'local' });
    expect(served.release).toBe(2);
  });

  it('cache file flipped on disk → discarded, fetched again, reported, never run', async () => {
    const w = await withGoodModel();
    const artifacts = w.storage.artifacts as MemoryArtifactStore;
    const [sha, stored] = [...artifacts.entries][0]!;
    const flipped = stored.slice();
    flipped[500] = flipped[500]! ^ 0x01;
    artifacts.entries.set(sha, flipped);
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'local' });
    expect(model).toMatchObject({ source: 'network', sha256: sha });
    await ferry.listCachedModels(); // the good bytes are written behind getModel
    expect(artifacts.entries.get(sha)).toEqual(stored);
    const events = await sentEvents(w, ferry);
    expect(events.some((e) => e.type === 'verify_failure' && e.code === 'cache_corrupt')).toBe(true);
    // Flipped again while offline: never run, the network error surfaces.
    artifacts.entries.set(sha, flipped);
    w.server.offline = true;
    await expect(w.client().getModel('digits', { policy: 'local' })).rejects.toBeInstanceOf(ConnectionError);
    expect(w.runtime.created).toHaveLength(2);
  });

  it('cached manifest tampered with → discarded and fetched again', async () => {
    const w = await withGoodModel();
    const record = (await w.storage.meta.get<{ jws: string }>('installed/digits'))!;
    const [h, , s] = record.jws.split('.');
    const forged = Buffer.from(JSON.stringify(testManifest({ model: 'digits', candidates: [], aud: w.server.appKey }))).toString('base64url');
    await w.storage.meta.set('installed/digits', { ...record, jws: `${h}.${forged}.${s}` });
    const model = await w.client().getModel('digits', { policy: 'local' });
    expect(model.source).toBe('network');
  });
});

describe('keys from a JWKS URL', () => {
  it('a load that aborts while the keys are fetched stops, and another load waiting for the same fetch gets them', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(1000));
    await w.server.publish('letters', modelBytes(800, 3));
    let release!: () => void;
    w.server.keysHeld = new Promise<void>((resolve) => (release = resolve));
    const ferry = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys' });
    const aborted = new AbortController();
    const first = ferry.getModel('digits', { policy: 'latest', signal: aborted.signal }).catch((err: unknown) => err);
    await vi.waitFor(() => expect(w.server.requests.filter((r) => r.path === '/v1/keys')).toHaveLength(1));
    const second = ferry.getModel('letters', { policy: 'latest' });
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(2));
    aborted.abort();
    expect(await first).toBeInstanceOf(DownloadAbortedError);
    release();
    expect(await second).toMatchObject({ name: 'letters', source: 'network' });
    await ferry.close();
    // One fetch of the keys served both.
    expect(w.server.requests.filter((r) => r.path === '/v1/keys')).toHaveLength(1);
  });

  /**
   * Load A (digits, signed by a key the client must refetch the JWKS for; the refetch is held)
   * starts its download ahead; load B (letters: the same bytes, signed by the key the client has,
   * so verified at once) joins that download; then A aborts. `published`: the server's JWKS has
   * A's key (a rotation), or not (a forgery). The keys and the bytes are then let through.
   */
  async function joinedThenAborted({ published }: { published: boolean }) {
    const w = await world();
    const bytes = modelBytes(30_000);
    await w.server.publish('letters', modelBytes(800, 3));
    const ferry = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys' });
    await ferry.getModel('letters', { policy: 'latest' }); // the keys are fetched: the signer's only
    const before = w.artifactRequests();
    const other = await createTestSigner();
    if (published) w.server.extraKeys.push(other.publicJwk);
    w.server.nextManifest = await other.sign((await w.server.publish('digits', bytes)).payload);
    let releaseKeys!: () => void;
    w.server.keysHeld = new Promise<void>((resolve) => (releaseKeys = resolve));
    let releaseBytes!: () => void;
    w.server.faults.hold = { bytes: 8192, until: new Promise<void>((resolve) => (releaseBytes = resolve)) };
    const keyRequests = () => w.server.requests.filter((r) => r.path === '/v1/keys').length;
    const aborted = new AbortController();
    const first = ferry.getModel('digits', { policy: 'latest', signal: aborted.signal }).catch((err: unknown) => err);
    await vi.waitFor(() => expect([w.artifactRequests() - before, keyRequests()]).toEqual([1, 2]));
    await w.server.publish('letters', bytes);
    const resolved = w.resolveRequests();
    const second = ferry.getModel('letters', { policy: 'latest' });
    await vi.waitFor(() => expect(w.resolveRequests()).toBe(resolved + 1));
    await new Promise((r) => setTimeout(r, 50)); // it verifies its manifest and joins
    aborted.abort();
    expect(await first).toBeInstanceOf(DownloadAbortedError);
    w.server.faults.hold = undefined;
    releaseKeys();
    releaseBytes();
    return { w, ferry, bytes, second, downloads: () => w.artifactRequests() - before };
  }

  it('a load aborted while its manifest waits for a new key: another load that joined its download ahead still gets the bytes, and no failure is reported', async () => {
    const { w, ferry, bytes, second, downloads } = await joinedThenAborted({ published: true });
    expect(await second).toMatchObject({ name: 'letters', sha256: sha256Of(bytes), source: 'network' });
    expect(downloads()).toBe(1);
    const events = await sentEvents(w, ferry);
    expect(events.filter((e) => e.type === 'verify_failure' || e.type === 'error')).toEqual([]);
    await ferry.close();
  });

  it('a load that joined a download started ahead of a manifest that then fails its check downloads the bytes again, on its own manifest', async () => {
    const { ferry, bytes, second, downloads } = await joinedThenAborted({ published: false });
    expect(await second).toMatchObject({ name: 'letters', sha256: sha256Of(bytes), source: 'network' });
    // The first download was dropped with the forged manifest; the bytes came again.
    expect(downloads()).toBe(2);
    await ferry.close();
  });

  it("that cannot be fetched: reported as the server's failure, not as a bad signature", async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(1000));
    const keysDown: typeof fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url.endsWith('/v1/keys')) return new Response(JSON.stringify({ error: { code: 'database_unavailable', message: 'down' } }), { status: 503 });
      return w.server.fetch(input, init);
    };
    const first = w.client({ trustedKeys: undefined, jwksUrl: '/v1/keys', fetch: keysDown });
    const err = await first.getModel('digits', { policy: 'latest' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ManifestSignatureError);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('database_unavailable');
    const events = await sentEvents(w, first);
    expect(events.some((e) => e.type === 'verify_failure')).toBe(false);
    await first.close();
  });
});

describe('concurrent loads', () => {
  it("a load whose manifest comes after another load of the same model downloaded it takes that download's bytes, not yet written to the cache", async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(4000));
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    let resolves = 0;
    w.server.beforeResolve = () => (++resolves === 2 ? held : undefined);
    const ferry = w.client();
    const a = ferry.getModel('digits', { policy: 'latest' });
    const b = ferry.getModel('digits', { policy: 'latest' });
    // The first load is done; its bytes are stored once no load runs, and the second still does.
    expect(await a).toMatchObject({ source: 'network' });
    answer();
    expect(await b).toMatchObject({ source: 'network', sha256: (await a).sha256 });
    expect(w.artifactRequests()).toBe(1);
    await ferry.close();
    expect((await w.client().listCachedModels()).map((m) => m.name)).toEqual(['digits']);
  });

  it("a prefetch never takes another load's bytes not stored yet as cached: over the budget it is refused, and nothing is installed without bytes", async () => {
    const w = await world();
    const shared = modelBytes(4000);
    await w.server.publish('a', shared);
    await w.server.publish('b', shared); // The same artifact under another name.
    await w.server.publish('held', modelBytes(100, 3));
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    w.server.beforeResolve = (body) => (body.model === 'held' ? held : undefined);
    const ferry = w.client({ cache: { maxBytes: 3000 } });
    const running = ferry.getModel('held', { policy: 'latest' }); // A load still running: installs wait.
    await ferry.getModel('a', { policy: 'latest' }); // Runs from memory; 4000 bytes the cache cannot keep.
    await expect(ferry.prefetch('b')).rejects.toBeInstanceOf(DownloadSkippedError);
    answer();
    await running;
    await ferry.close();
    expect((await w.client().listCachedModels()).map((m) => m.name)).toEqual(['held']);
  });

  it('installs a small model while a long download of another runs, within about a second', async () => {
    const w = await world();
    await w.server.publish('small', modelBytes(500));
    await w.server.publish('large', modelBytes(60_000, 5));
    let release!: () => void;
    w.server.faults.hold = { bytes: 8192, until: new Promise<void>((r) => (release = r)) };
    const ferry = w.client();
    const large = ferry.getModel('large', { policy: 'latest' });
    while (w.artifactRequests() < 1) await new Promise((r) => setTimeout(r, 1));
    const small = await ferry.getModel('small', { policy: 'latest' });
    expect(small.source).toBe('network');
    const deadline = Date.now() + 3000;
    while (!(await w.storage.meta.get('installed/small')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // On disk (the install record and the release counter) while the other download is still held.
    expect(await w.storage.meta.get('installed/small')).toMatchObject({ model: 'small', version: 1 });
    expect(await w.storage.meta.get('release/small')).toBe(1);
    release();
    expect((await large).source).toBe('network');
    await ferry.close();
  });

  it('a model loaded while another load is still running is served from the cache at once', async () => {
    const w = await world();
    await w.server.publish('faces', modelBytes(800, 3));
    await w.server.publish('digits', modelBytes(600, 5));
    const ferry = w.client({ stallTimeoutMs: 60_000 });
    // "faces" stalls mid-download: a load runs all along, holding the cache's writes.
    w.server.faults.stall = { times: 1 };
    const stop = new AbortController();
    const faces = ferry.getModel('faces', { policy: 'latest', signal: stop.signal }).catch((e: unknown) => e);
    while (w.artifactRequests() < 1) await new Promise((r) => setTimeout(r, 1));
    const digits = await ferry.getModel('digits', { policy: 'latest' });
    // Its install waits behind "faces"; asking for it again needs it now, and gets it.
    const again = await ferry.getModel('digits', { policy: 'local' });
    expect(again).toMatchObject({ source: 'cache', sha256: digits.sha256 });
    expect((await ferry.listCachedModels()).map((m) => m.name)).toEqual(['digits']);
    stop.abort();
    expect(await faces).toBeInstanceOf(DownloadAbortedError);
    await ferry.close();
  });
});

describe('cache management', () => {
  it('a new version fetched behind a start, or prefetched, makes room with the bytes it replaces, not with another model', async () => {
    for (const how of ['update', 'prefetch'] as const) {
      const w = await world();
      const tight = { cache: { maxBytes: 300 } };
      await w.server.publish('faces', modelBytes(150, 7));
      await w.server.publish('digits', modelBytes(100, 1));
      for (const name of ['faces', 'digits']) await (await w.client(tight).getModel(name)).update;
      await w.server.publish('digits', modelBytes(100, 3));
      const ferry = w.client(tight);
      if (how === 'update') expect(await (await ferry.getModel('digits')).update).toMatchObject({ updated: true, version: 2 });
      else expect(await ferry.prefetch('digits')).toMatchObject({ version: 2 });
      await ferry.close();
      expect((await w.client(tight).listCachedModels()).map((m) => `${m.name} ${m.version}`)).toEqual(['faces 1', 'digits 2']);
    }
  });

  it('prefetches, lists, deletes; getModel then loads the prefetched bytes', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(300));
    await w.server.publish('faces', modelBytes(400, 3));
    const ferry = w.client();
    const info = await ferry.prefetch('digits');
    expect(info).toMatchObject({ name: 'digits', version: 1, backend: null, size: 300 });
    await ferry.prefetch('faces');
    expect((await ferry.listCachedModels()).map((m) => m.name).sort()).toEqual(['digits', 'faces']);
    const model = await ferry.getModel('digits', { policy: 'local' });
    expect(model.source).toBe('cache');
    expect(w.artifactRequests()).toBe(2);
    expect(await ferry.deleteCachedModel('digits')).toBe(true);
    expect(await ferry.deleteCachedModel('digits')).toBe(false);
    expect((await ferry.listCachedModels()).map((m) => m.name)).toEqual(['faces']);
  });

  it('prefetches only what the cache can keep: a variant within its budget, else nothing (no download, no record)', async () => {
    const w = await world();
    await w.server.publish('digits', [modelBytes(400, 1), modelBytes(200, 3)], {}, (c, i) => ({ ...c, variant: i ? 'int8' : 'original' }));
    await w.server.publish('big', modelBytes(400, 5));
    const ferry = w.client({ cache: { maxBytes: 250 } });
    expect(await ferry.prefetch('digits')).toMatchObject({ name: 'digits', variant: 'int8', size: 200 });
    const err = await ferry.prefetch('big').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadSkippedError);
    expect((err as Error).message).toMatch(/more than the cache's budget of 250/);
    expect((await ferry.listCachedModels()).map((m) => m.name)).toEqual(['digits']);
    expect(w.artifactRequests()).toBe(1);
  });

  it('keeps models in memory only with cache: false', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(300));
    const ferry = w.client({ cache: false });
    await ferry.getModel('digits', { policy: 'latest' });
    expect(await w.storage.artifacts.list()).toEqual([]);
    expect(await ferry.cacheInfo()).toMatchObject({ kind: 'memory', usedBytes: 300 });
  });

  it('evicts least recently used models across models to honour cache.maxBytes', async () => {
    const w = await world();
    for (const [i, name] of ['a', 'b', 'c'].entries()) await w.server.publish(name, modelBytes(400, i + 1));
    const ferry = w.client({ cache: { maxBytes: 1000 } });
    await ferry.getModel('a', { policy: 'latest' });
    await ferry.getModel('b', { policy: 'latest' });
    await ferry.getModel('a', { policy: 'local' });
    await ferry.getModel('c', { policy: 'latest' });
    expect((await ferry.listCachedModels()).map((m) => m.name).sort()).toEqual(['a', 'c']);
    expect(await ferry.cacheInfo()).toEqual({ kind: 'memory', usedBytes: 800, maxBytes: 1000 });
  });
});

describe('telemetry', () => {
  it('reports resolve, download, load and inference summaries under the install id', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(300));
    const ferry = w.client();
    const model = await ferry.getModel('digits', { policy: 'latest' });
    for (let i = 0; i < 20; i++) await model.run(FEEDS);
    const events = await sentEvents(w, ferry);
    expect(events.map((e) => e.type)).toEqual(['resolve', 'download', 'load', 'inference']);
    expect(events.find((e) => e.type === 'inference')).toMatchObject({
      model: 'digits',
      version: 1,
      variant: 'original',
      backend: 'wasm',
      count: 20,
      latency: { p50: expect.any(Number), p95: expect.any(Number), mean: expect.any(Number), max: expect.any(Number) },
    });
    expect(w.server.telemetry[0]!.device.id).toBe(w.server.resolveBodies[0]!.device.id);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('sends nothing once the user opts out, and remembers it', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(300));
    const ferry = w.client();
    await ferry.telemetry.setEnabled(false);
    await ferry.getModel('digits', { policy: 'latest' });
    await ferry.telemetry.flush();
    const restarted = w.client();
    await restarted.getModel('digits', { policy: 'latest' });
    await restarted.close();
    expect(w.server.telemetry).toEqual([]);
    expect(restarted.telemetry.enabled).toBe(false);
  });
});

describe('audience (the app key manifests are issued to)', () => {
  it('accepts manifests issued to its app key, or to the app key id it was given', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100), { aud: 'ak_mine' });
    await expect(w.client({ appKeyId: 'ak_mine' }).getModel('digits', { policy: 'latest' })).resolves.toBeTruthy();
    await w.server.publish('digits', modelBytes(100, 3), { aud: 'ak_other' });
    await expect(w.client({ appKeyId: 'ak_mine' }).getModel('digits', { policy: 'latest' })).rejects.toBeInstanceOf(ManifestMismatchError);
  });

  it('refuses a manifest issued to another app, even on first use', async () => {
    const w = await world();
    await w.server.publish('digits', modelBytes(100), { aud: 'ak_someone_else' });
    await expect(w.client().getModel('digits', { policy: 'latest' })).rejects.toBeInstanceOf(ManifestMismatchError);
  });
});

