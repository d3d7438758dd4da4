import type { Jwks, ResolveRequest, TelemetryAccepted, TelemetryBatch } from '@ferry/protocol';
import { ConnectionError, DownloadAbortedError, FerryError, OfflineError, ServerError, errorFromResponse } from '../errors.js';
import type { NetworkState } from '../platform.js';
import { backoffDelay, linkSignals, retryAfterMs, sleep, type RetryOptions } from './retry.js';
import type { HttpFetch } from './transport.js';

/** What {@link FerryApi} needs. */
export interface FerryApiOptions {
  serverUrl: string;
  appKey: string;
  fetch: HttpFetch;
  retry: Required<RetryOptions>;
  /** Time limit of one request (headers and body of JSON calls), in ms. */
  requestTimeoutMs: number;
  now: () => number;
  network: () => NetworkState;
  random?: () => number;
}

interface RequestOptions {
  method: 'GET' | 'POST';
  body?: unknown;
  signal?: AbortSignal | undefined;
  keepalive?: boolean;
  retries?: number;
  model?: string;
  /** Statuses returned to the caller instead of thrown (besides 2xx). */
  accept?: number[];
  /** A 2xx body that is not JSON is `null` instead of a failure. */
  lenient?: boolean;
}

/** A JSON answer, read whole within the request's time limit. */
interface JsonAnswer {
  status: number;
  body: unknown;
}

/** The device API of a Ferry server: resolve, keys, telemetry. Artifact bytes go through the downloader. */
export class FerryApi {
  readonly serverUrl: string;
  private readonly origin: string;

  constructor(private readonly options: FerryApiOptions) {
    this.serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.origin = new URL(this.serverUrl).origin;
  }

  /** An absolute URL for a path of the server (or an absolute URL, unchanged). */
  url(pathOrUrl: string): string {
    if (/^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl)) return pathOrUrl;
    return `${this.serverUrl}${pathOrUrl.startsWith('/') ? '' : '/'}${pathOrUrl}`;
  }

  /**
   * Headers for a request to `url`: the app key goes to Ferry only — this server, or a Ferry
   * artifact URL under another public address (`FERRY_PUBLIC_URL`) — never to a CDN.
   */
  /** True when `url` is on the Ferry server's own origin. */
  isServerUrl(url: string): boolean {
    try {
      return new URL(url).origin === this.origin;
    } catch {
      return false;
    }
  }

  headersFor(url: string): Record<string, string> {
    const target = new URL(url);
    const ferry = target.origin === this.origin || target.pathname.includes('/v1/artifacts/');
    return ferry ? { 'x-ferry-app-key': this.options.appKey } : {};
  }

  /** `POST /v1/resolve`: the compact JWS of the manifest, or null when `cached` is still current (304). */
  async resolve(request: ResolveRequest, signal?: AbortSignal): Promise<string | null> {
    const res = await this.request('/v1/resolve', { method: 'POST', body: request, signal, model: request.model, accept: [304] });
    if (res.status === 304) return null;
    const body = res.body as { manifest?: unknown } | null;
    if (typeof body?.manifest !== 'string') {
      throw new ServerError('internal_error', 'the resolve answer has no manifest', { status: res.status, model: request.model });
    }
    return body.manifest;
  }

  /** The JWKS at `url` (default `/v1/keys`). */
  async keys(url: string, signal?: AbortSignal): Promise<Jwks> {
    const res = await this.request(url, { method: 'GET', signal });
    return res.body as Jwks;
  }

  /** `POST /v1/telemetry`. */
  async sendTelemetry(batch: TelemetryBatch, options: { keepalive?: boolean; signal?: AbortSignal } = {}): Promise<TelemetryAccepted> {
    const res = await this.request('/v1/telemetry', { method: 'POST', body: batch, signal: options.signal, keepalive: options.keepalive ?? false, retries: 0, lenient: true });
    return (res.body ?? { accepted: batch.events.length, duplicates: 0 }) as TelemetryAccepted;
  }

  private async request(path: string, options: RequestOptions): Promise<JsonAnswer> {
    const url = this.url(path);
    const retries = options.retries ?? this.options.retry.retries;
    const headers: Record<string, string> = { accept: 'application/json', ...this.headersFor(url) };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 0; ; attempt++) {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), this.options.requestTimeoutMs);
      const linked = linkSignals(options.signal, timeout.signal);
      let retryAfter: number | undefined;
      let failure: FerryError;
      try {
        const res = await this.options.fetch(url, {
          method: options.method,
          headers,
          body: options.body === undefined ? null : JSON.stringify(options.body),
          signal: linked.signal,
          keepalive: options.keepalive ?? false,
        });
        if (res.ok || options.accept?.includes(res.status)) {
          // The body is read before the timer stops: a server that sends headers, then stalls, times out.
          const text = res.status === 304 ? '' : await res.text();
          return { status: res.status, body: this.parse(text, url, res.status, options) };
        }
        failure = await errorFromResponse(res, { model: options.model });
        if (!(failure instanceof ServerError)) throw failure;
        retryAfter = retryAfterMs(res.headers.get('retry-after'), this.options.now(), this.options.retry.maxDelayMs);
      } catch (err) {
        if (options.signal?.aborted) throw new DownloadAbortedError('the request was cancelled', { cause: err });
        if (err instanceof FerryError && !(err instanceof ServerError)) throw err;
        failure = err instanceof FerryError ? err : this.connectionError(url, err, timeout.signal.aborted, options.model);
      } finally {
        clearTimeout(timer);
        linked.dispose();
      }
      if (attempt >= retries) throw failure;
      await sleep(retryAfter ?? backoffDelay(attempt + 1, this.options.retry, this.options.random), options.signal);
    }
  }

  /**
   * A 2xx body as JSON. Anything else (a captive portal's HTML page, a proxy's error page) is a
   * connection problem, not the server's answer: typed, and cached models are served instead.
   */
  private parse(text: string, url: string, status: number, options: RequestOptions): unknown {
    if (text === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      if (options.lenient) return null;
      throw new ConnectionError(`the answer from ${url} (${status}) is not JSON: something between this device and Ferry answered (a captive portal, a proxy)`, {
        cause,
        model: options.model,
      });
    }
  }

  /** The typed error for a fetch that threw: offline when the platform knows, else a connection error. */
  connectionError(url: string, cause: unknown, timedOut: boolean, model?: string): FerryError {
    if (this.options.network().online === false) return new OfflineError('the device is offline', { cause, model });
    const what = timedOut ? 'timed out' : `failed (${cause instanceof Error ? cause.message : String(cause)})`;
    return new ConnectionError(`the request to ${url} ${what}`, { cause, model });
  }
}
