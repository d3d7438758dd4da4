import * as ort from 'onnxruntime-web';

let configured = false;

/**
 * An onnxruntime-web session on the wasm backend, one thread: the accuracy gate measures what
 * a device's CPU fallback computes, and a build uses one core. The thread count is
 * process-wide and fixed at the first session.
 */
export async function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  if (!configured) {
    ort.env.wasm.numThreads = 1;
    configured = true;
  }
  return ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
}

export { ort };
