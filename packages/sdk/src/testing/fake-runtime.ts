import type { InferenceRuntime, ModelSession, TensorLike } from '../core/inference/runtime.js';

export interface FakeRuntimeOptions {
  /** Backends whose sessions fail to initialise. */
  failInit?: string[];
  /** Backends whose first run (the warm-up) fails. */
  failRun?: string[];
}

/**
 * An inference runtime without ONNX Runtime: a session's output `logits` is `[sum(input), byteLength(model)]`.
 * Counts sessions so tests can check reuse.
 */
export function createFakeRuntime(options: FakeRuntimeOptions = {}): InferenceRuntime & { created: string[]; released: number } {
  const state = { created: [] as string[], released: 0 };
  return {
    name: 'fake',
    get created() {
      return state.created;
    },
    get released() {
      return state.released;
    },
    supports: (backend) => ['wasm', 'cpu', 'webgl', 'webgpu'].includes(backend),
    async createSession(bytes, backend): Promise<ModelSession> {
      if (options.failInit?.includes(backend)) throw new Error(`${backend} is not available (fake)`);
      state.created.push(backend);
      const size = bytes.byteLength;
      return {
        backend,
        inputNames: ['input'],
        outputNames: ['logits'],
        async run(feeds) {
          if (options.failRun?.includes(backend)) throw new Error(`${backend} failed to run (fake)`);
          const input = feeds.input as TensorLike;
          let sum = 0;
          const data = input.data as ArrayLike<number>;
          for (let i = 0; i < data.length; i++) sum += Number(data[i]);
          return { logits: { type: 'float32', data: new Float32Array([sum, size]), dims: [1, 2] } };
        },
        async release() {
          state.released++;
        },
      };
    },
    tensor: (type, data, dims) => ({ type, data, dims }),
  };
}
