// Runs in a worker thread: builds one variant, or the pre-compressed copies of a model,
// so that compression never blocks the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { buildVariant, parseVariantKind, precompress, type VariantBuildOptions } from '@ferry/compress';

export interface WorkerTask {
  type: 'variant' | 'encode';
  kind?: string;
  bytes: Uint8Array;
  options?: Omit<VariantBuildOptions, 'onProgress'>;
}

export type WorkerMessage =
  | { type: 'progress'; fraction: number; stage: string }
  | { type: 'variant'; result: Awaited<ReturnType<typeof buildVariant>> }
  | { type: 'encoded'; encodings: Awaited<ReturnType<typeof precompress>> }
  | { type: 'error'; code: string; message: string };

const task = workerData as WorkerTask;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(m, transfer);

try {
  if (task.type === 'encode') {
    post({ type: 'progress', fraction: 0.1, stage: 'precompress' });
    const encodings = await precompress(task.bytes);
    post({ type: 'encoded', encodings }, encodings.map((e) => e.bytes.buffer as ArrayBuffer));
  } else {
    const result = await buildVariant(task.bytes, parseVariantKind(task.kind ?? ''), {
      ...task.options,
      onProgress: (fraction, stage) => post({ type: 'progress', fraction, stage }),
    });
    post({ type: 'variant', result });
  }
} catch (err) {
  const e = err as { code?: string; message?: string };
  post({ type: 'error', code: typeof e.code === 'string' ? e.code : 'internal_error', message: e.message ?? String(err) });
}
