import { DownloadAbortedError } from '../errors.js';

/** How failed requests are retried. */
export interface RetryOptions {
  /** Retries after the first attempt. @defaultValue 4 */
  retries?: number;
  /** Delay before the first retry, in ms; doubles each time. @defaultValue 300 */
  baseDelayMs?: number;
  /** Longest delay between attempts, in ms. @defaultValue 10000 */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 4, baseDelayMs: 300, maxDelayMs: 10_000 };

/**
 * Delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter"
 * (half fixed, half random) so that many devices failing together do not retry together.
 */
export function backoffDelay(attempt: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Resolves after `ms`, or rejects with {@link DownloadAbortedError} when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DownloadAbortedError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DownloadAbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `promise`, or a {@link DownloadAbortedError} as soon as `signal` aborts: the caller stops
 * waiting, and the work it waited for goes on for others who share it.
 */
export function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined); // Others may await it; an error nobody awaits is not unhandled.
    return Promise.reject(new DownloadAbortedError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DownloadAbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** A signal that aborts when any of `signals` does, plus `dispose` to stop listening. */
export function linkSignals(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; abort: (reason?: unknown) => void; dispose: () => void } {
  const controller = new AbortController();
  const listeners: [AbortSignal, () => void][] = [];
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    const onAbort = () => controller.abort(s.reason);
    s.addEventListener('abort', onAbort, { once: true });
    listeners.push([s, onAbort]);
  }
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose: () => {
      for (const [s, fn] of listeners) s.removeEventListener('abort', fn);
    },
  };
}

/** Seconds or an HTTP date from a `Retry-After` header, as a delay in ms (capped). */
export function retryAfterMs(header: string | null, now: number, cap: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(cap, seconds * 1000);
  const date = Date.parse(header);
  if (Number.isFinite(date)) return Math.min(cap, Math.max(0, date - now));
  return undefined;
}
