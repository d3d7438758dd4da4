// The page of bench/sdk/browser-load.ts: plain onnxruntime-web and the SDK side by side, in one
// bundle (one ONNX Runtime for both), driven by playwright.
import * as ort from 'onnxruntime-web';
import { createFerry, type FerryOptions } from '@ferry/sdk';

interface Setup {
  config: Pick<FerryOptions, 'appKey' | 'appKeyId' | 'trustedKeys'>;
  artifact: string;
  wasmPaths: string;
  storage?: 'opfs' | 'indexeddb';
}

let setup: Setup;
const input = () => ({ input: new ort.Tensor('float32', new Float32Array(784).fill(0.5), [1, 784]) });

/** Idle time before each timed load (as in load.ts): the GC work the previous one left runs here, not in it. */
const SETTLE_MS = 10;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

async function timed(fn: () => Promise<void>): Promise<number> {
  await settle();
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const bench = {
  init(s: Setup): void {
    setup = s;
    ort.env.wasm.wasmPaths = s.wasmPaths;
    ort.env.wasm.numThreads = 1;
  },
  /** `fetch` of the artifact (never from the HTTP cache) + `InferenceSession.create` + one run. */
  plain(): Promise<number> {
    return timed(async () => {
      const res = await fetch(setup.artifact, { headers: { 'x-ferry-app-key': setup.config.appKey }, cache: 'no-store' });
      if (!res.ok) throw new Error(`artifact: ${res.status}`);
      const session = await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] });
      await session.run(input());
      await session.release();
    });
  },
  /** A new client on cache `namespace` and `getModel` with `policy`; then waits for the cache and closes. */
  async sdk(namespace: string, policy: 'latest' | 'local'): Promise<{ ms: number; untilCached: number; source: string; storage: string }> {
    await settle();
    const t0 = performance.now();
    const ferry = createFerry({
      serverUrl: location.origin,
      ...setup.config,
      ...(setup.storage ? { storage: setup.storage } : {}),
      cache: { namespace },
      telemetry: false,
      ort: { wasmPaths: setup.wasmPaths, numThreads: 1, backends: ['wasm'] },
    });
    const model = await ferry.getModel('bench-sdk', { policy });
    const ms = performance.now() - t0;
    await ferry.listCachedModels();
    const untilCached = performance.now() - t0;
    const storage = (await ferry.cacheInfo()).kind;
    const source = model.source;
    await ferry.close();
    return { ms, untilCached, source, storage };
  },
};

(window as unknown as { bench: typeof bench }).bench = bench;
