// Bundled for the browser tests: the SDK in a dedicated (module) worker, as an app that keeps
// inference off its page's main thread runs it. The page posts a job; the worker answers with what
// it saw, or the error.
import { createFerry } from '../platform/browser/index.js';

export interface WorkerJob {
  config: { serverUrl: string; appKey: string; trustedKeys: unknown };
  wasmPaths: string;
  namespace: string;
  policy: 'latest' | 'local';
  /** An MNIST digit, 28×28 values in 0..1 (ink), drawn black on white 10× larger and classified. */
  digit: number[];
}

const scope = self as unknown as { onmessage: ((event: MessageEvent<WorkerJob>) => void) | null; postMessage(message: unknown): void };

scope.onmessage = async ({ data: job }) => {
  try {
    let installId: string | undefined;
    // Notes the install id the resolve sends, to find this worker's telemetry on the server.
    const noting: typeof fetch = async (input, init) => {
      if (String(input instanceof Request ? input.url : input).endsWith('/v1/resolve') && typeof init?.body === 'string') {
        installId = (JSON.parse(init.body) as { device?: { id?: string } }).device?.id;
      }
      return fetch(input, init);
    };
    const ferry = createFerry({
      ...(job.config as Parameters<typeof createFerry>[0]),
      fetch: noting,
      cache: { namespace: job.namespace },
      ort: { wasmPaths: job.wasmPaths },
    });
    const progress: number[] = [];
    const model = await ferry.getModel('digits', { policy: job.policy, onProgress: (p) => progress.push(p.bytes) });
    const canvas = new OffscreenCanvas(280, 280);
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, 280, 280);
    job.digit.forEach((v, k) => {
      if (v <= 0) return;
      const g = Math.round(255 * (1 - v));
      ctx.fillStyle = `rgb(${g},${g},${g})`;
      ctx.fillRect((k % 28) * 10, Math.floor(k / 28) * 10, 10, 10);
    });
    const [best] = await model.classify(canvas.transferToImageBitmap());
    const info = await ferry.cacheInfo();
    await ferry.telemetry.flush();
    await ferry.close();
    scope.postMessage({
      source: model.source,
      backend: model.backend,
      variant: model.variant,
      progress: progress.length,
      label: best?.label,
      storage: info.kind,
      installId,
      hasDocument: typeof document !== 'undefined',
    });
  } catch (err) {
    scope.postMessage({ error: String((err as Error)?.stack ?? err) });
  }
};
