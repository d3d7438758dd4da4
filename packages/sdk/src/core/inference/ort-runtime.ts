import type { TensorInfo } from '@ferry/protocol';
import type { OrtModule, OrtSession } from './ort-types.js';
import type { InferenceRuntime, ModelSession, TensorLike } from './runtime.js';

/** How onnxruntime-web is found and set up. */
export interface OrtOptions {
  /**
   * The `onnxruntime-web` module, or a loader for it. By default the platform imports it
   * (`import('onnxruntime-web')`), which finds its wasm files next to itself when not bundled.
   */
  module?: OrtModule | (() => Promise<OrtModule>);
  /**
   * Where a bundled app serves the ort `.wasm`/`.mjs` files: a URL prefix ending in `/`, or
   * per-file URLs. Sets `ort.env.wasm.wasmPaths`.
   * @example `wasmPaths: '/ort/'`
   */
  wasmPaths?: string | Record<string, string>;
  /** `ort.env.wasm.numThreads`; threads need `crossOriginIsolated` in browsers. @defaultValue ORT's choice (1 in Node) */
  numThreads?: number;
  /** Extra session options (graph optimisation level, …); the SDK sets `executionProviders`. */
  sessionOptions?: Record<string, unknown>;
  /**
   * Backends the loaded ONNX Runtime build has. The default `onnxruntime-web` build has WebGPU,
   * WebNN and wasm; WebGL needs `onnxruntime-web/all` (or `/webgl`).
   * @defaultValue ['webgpu', 'webnn', 'wasm', 'cpu']
   * @example `{ module: () => import('onnxruntime-web/all'), backends: ['webgpu', 'webgl', 'wasm'] }`
   */
  backends?: string[];
}

const DEFAULT_BACKENDS = ['webgpu', 'webnn', 'wasm', 'cpu'];

/** Device API backend → onnxruntime-web execution provider. */
const EXECUTION_PROVIDERS: Record<string, string> = {
  webgpu: 'webgpu',
  webnn: 'webnn',
  webgl: 'webgl',
  wasm: 'wasm',
  cpu: 'wasm',
};

class OrtModelSession implements ModelSession {
  constructor(
    readonly backend: string,
    private readonly session: OrtSession,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  get inputInfo(): readonly TensorInfo[] | undefined {
    const meta = (this.session as { inputMetadata?: readonly { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] }[] }).inputMetadata;
    if (!meta?.every((m) => m.isTensor && m.type && m.shape)) return undefined;
    return meta.map((m) => ({ name: m.name, type: m.type!, shape: [...m.shape!] }));
  }

  run(feeds: Record<string, unknown>): Promise<Record<string, TensorLike>> {
    return this.session.run(feeds as Parameters<OrtSession['run']>[0]) as unknown as Promise<Record<string, TensorLike>>;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * The onnxruntime-web runtime. `load` gives the module (imported on first use only, so an app
 * that never runs a model never loads ONNX Runtime).
 */
export function createOrtRuntime(load: () => Promise<OrtModule>, options: OrtOptions = {}): InferenceRuntime {
  let ort: OrtModule | null = null;
  let loading: Promise<OrtModule> | null = null;
  const module = async (): Promise<OrtModule> => {
    if (ort) return ort;
    loading ??= (async () => {
      const m = typeof options.module === 'function' ? await options.module() : (options.module ?? (await load()));
      if (options.wasmPaths !== undefined) m.env.wasm.wasmPaths = options.wasmPaths;
      if (options.numThreads !== undefined) m.env.wasm.numThreads = options.numThreads;
      ort = m;
      return m;
    })();
    return loading;
  };
  return {
    name: 'onnxruntime-web',
    supports: (backend) => backend in EXECUTION_PROVIDERS && (options.backends ?? DEFAULT_BACKENDS).includes(backend),
    async createSession(bytes, backend) {
      const m = await module();
      const ep = EXECUTION_PROVIDERS[backend];
      if (!ep) throw new Error(`onnxruntime-web has no execution provider for "${backend}"`);
      // In proxy mode onnxruntime-web transfers the model's buffer to its worker, which empties it
      // here; the SDK still needs the bytes (to cache them, for the next candidate): ORT gets a copy.
      const model = m.env.wasm.proxy ? bytes.slice() : bytes;
      // One provider only: ORT would otherwise fall back silently, and we want to know.
      const session = await m.InferenceSession.create(model, { ...options.sessionOptions, executionProviders: [ep] });
      return new OrtModelSession(backend, session);
    },
    tensor(type, data, dims) {
      if (!ort) throw new Error('onnxruntime-web is not loaded yet');
      return new ort.Tensor(type as 'float32', data as Float32Array, dims);
    },
  };
}
