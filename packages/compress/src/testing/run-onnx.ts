import * as ort from 'onnxruntime-web';

/** Input tensors by name, as plain data. */
export type Feeds = Record<string, { type: ort.Tensor.Type; data: ort.Tensor.DataType; dims: readonly number[] }>;

/**
 * Runs a model once in onnxruntime-web (wasm, one thread) and returns its outputs as plain
 * data; the session is released afterwards.
 */
export async function runOnnx(bytes: Uint8Array, feeds: Feeds): Promise<Record<string, { data: ort.Tensor.DataType; dims: readonly number[] }>> {
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data, t.dims)]));
    const outputs = await session.run(inputs);
    return Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { data: t.data, dims: t.dims }]));
  } finally {
    await session.release();
  }
}
