import { describe, expect, it } from 'vitest';
import type { OrtModule } from './ort-types.js';
import { createOrtRuntime } from './ort-runtime.js';

/** An onnxruntime-web stand-in whose `InferenceSession.create` takes the bytes as its proxy worker does: their buffer is transferred. */
function transferringOrt(proxy: boolean): { module: OrtModule; received: Uint8Array[] } {
  const received: Uint8Array[] = [];
  const session = { inputNames: ['input'], outputNames: ['logits'], release: async () => undefined };
  const module = {
    env: { wasm: { proxy } },
    InferenceSession: {
      create: async (model: Uint8Array) => {
        received.push(model);
        // What postMessage(message, [model.buffer]) does to the sender's buffer.
        if (proxy) structuredClone(model.buffer, { transfer: [model.buffer] });
        return session;
      },
    },
  } as unknown as OrtModule;
  return { module, received };
}

describe('onnxruntime-web runtime', () => {
  it("keeps the caller's bytes when ORT runs in a proxy worker (it transfers the model's buffer): ORT gets a copy", async () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const { module, received } = transferringOrt(true);
    await createOrtRuntime(async () => module).createSession(bytes, 'wasm');
    expect(bytes).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(received[0] === bytes).toBe(false); // (received[0], transferred, is empty now)
  });

  it('hands the bytes over as they are otherwise (no copy of a large model)', async () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const { module, received } = transferringOrt(false);
    await createOrtRuntime(async () => module).createSession(bytes, 'wasm');
    expect(received[0]).toBe(bytes);
  });
});
