/**
 * The part of `fetch` the SDK uses, so that a platform can bring a faster HTTP client than its
 * `fetch` (Node's, over `node:http`: see {@link Platform.http}). A real `fetch` is one.
 */

/** A response body read chunk by chunk. */
export interface BodyReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
}

/** A response body: a `ReadableStream` of bytes is one. */
export interface HttpBody {
  getReader(): BodyReader;
  cancel(): Promise<void>;
}

/** A response: a `Response` is one. */
export interface HttpAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText?: string;
  readonly headers: { get(name: string): string | null };
  /** Null for answers without a body (HEAD, 204, 304). */
  readonly body: HttpBody | null;
  text(): Promise<string>;
}

/** What the SDK asks of a request. */
export interface HttpInit {
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | null;
  signal: AbortSignal;
  /** Browsers: let the request outlive the page (telemetry on page hide). */
  keepalive?: boolean;
  /** Browsers: the HTTP cache mode (artifacts skip it: `no-store`). */
  cache?: RequestCache;
}

/** An HTTP client with the semantics of `fetch`: redirects followed, bodies decoded (`Content-Encoding`). */
export type HttpFetch = (url: string, init: HttpInit) => Promise<HttpAnswer>;
