import { Worker } from 'node:worker_threads';
import type { WorkerMessage, WorkerTask } from './variant-worker.js';

/** A job's failure as the worker reported it; `code` is the compression error code. */
export class WorkerTaskError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WorkerTaskError';
  }
}

// From TypeScript sources (tests, `tsx`), the worker needs the same loader as this process.
const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './variant-worker-source.mjs' : './variant-worker.js', import.meta.url);
const execArgv = fromSource ? ['--conditions=@ferry/source'] : [];

/** Runs one task in a fresh worker thread, reporting progress; the worker ends with the task. */
export function runInWorker<T extends WorkerMessage['type']>(
  task: WorkerTask,
  onProgress: (fraction: number, stage: string) => void,
): Promise<Extract<WorkerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const transfer = task.bytes.byteOffset === 0 && task.bytes.byteLength === task.bytes.buffer.byteLength ? [task.bytes.buffer as ArrayBuffer] : [];
    const worker = new Worker(workerUrl, { workerData: task, transferList: transfer, execArgv });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') onProgress(m.fraction, m.stage);
      else if (m.type === 'error') settle(() => reject(new WorkerTaskError(m.code, m.message)));
      else settle(() => resolve(m as Extract<WorkerMessage, { type: T }>));
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) => settle(() => reject(new Error(`variant worker exited with code ${code} before finishing`))));
  });
}
