import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline, type Readable } from 'node:stream';
import { constants, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { BodyReader, HttpAnswer, HttpBody, HttpFetch } from '../../core/http/transport.js';

const ignore = () => undefined;

/** As many as `fetch` follows. */
const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** What the SDK asks for when the caller does not say (the server has `br` and `gzip` copies). */
const DEFAULT_ACCEPT_ENCODING = 'br, gzip';

/**
 * Node's HTTP client for the SDK (the Node platform's `http`), over `node:http` and `node:https`,
 * with the semantics of `fetch` the SDK relies on: redirects followed (at most 20; a 303, or a
 * 301/302 of a POST, turns into a GET; `authorization` is dropped across origins), bodies decoded
 * (`br`, `gzip`, `deflate`; a stream cut short yields what it holds, as fetch's does, and the
 * caller checks lengths), the signal aborting the request and its body (chunks not yet read are
 * dropped). A GET on a kept-alive connection that the server closed meanwhile is sent once more on
 * a new one.
 *
 * It exists for speed: its chunks reach the SDK as Node hands them over, not through web streams,
 * and Node's `fetch` loads its implementation on first use (see {@link Platform.http}).
 */
export const nodeHttp: HttpFetch = async (url, init) => {
  let target = new URL(url);
  let method = init.method ?? 'GET';
  let body = init.body ?? null;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers)) headers[name.toLowerCase()] = value;
  headers['accept-encoding'] ??= DEFAULT_ACCEPT_ENCODING;
  for (let hop = 0; ; hop++) {
    const res = await send(target, method, headers, body, init.signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) return new NodeAnswer(res, method, init.signal);
    res.destroy(); // The redirect's own body is not wanted (and may never end).
    if (hop >= MAX_REDIRECTS) throw new TypeError(`more than ${MAX_REDIRECTS} redirects from ${url}`);
    const next = new URL(location, target);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError(`a redirect from ${target.href} to a ${next.protocol} URL`);
    if ((status === 303 && method !== 'GET') || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = null;
      delete headers['content-type'];
    }
    if (next.origin !== target.origin) delete headers.authorization;
    target = next;
  }
};

/** Sends one request; resolves with the response's head. */
function send(url: URL, method: string, headers: Record<string, string>, body: string | null, signal: AbortSignal, retried = false): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const payload = body === null ? null : Buffer.from(body, 'utf8');
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method,
      headers: payload ? { ...headers, 'content-length': String(payload.byteLength) } : headers,
      signal,
    });
    let answered = false;
    req.once('response', (res) => {
      answered = true;
      res.on('error', ignore); // A body's failure reaches its reader (the stream ends early), not the process.
      resolve(res);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return; // An abort or a dropped connection after the head: the body sees it.
      answered = true;
      // The server closed a kept-alive connection as this request went out on it (its idle timeout).
      const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      if (stale && !retried && method === 'GET' && !signal.aborted) send(url, method, headers, body, signal, true).then(resolve, reject);
      else reject(err);
    });
    req.end(payload ?? undefined);
  });
}

/** A response of {@link nodeHttp}. */
class NodeAnswer implements HttpAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  readonly body: HttpBody | null;

  constructor(res: IncomingMessage, method: string, signal: AbortSignal) {
    this.status = res.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    this.statusText = res.statusMessage ?? '';
    this.headers = {
      get(name) {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
    if (method === 'HEAD' || this.status === 204 || this.status === 304) {
      res.resume();
      this.body = null;
    } else {
      this.body = new NodeBody(decoded(res), signal);
    }
  }

  async text(): Promise<string> {
    if (!this.body) return '';
    const reader = this.body.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    return new TextDecoder().decode(Buffer.concat(parts));
  }
}

/** The body of `res` decoded as its `Content-Encoding` says; as sent when a coding is unknown (as `fetch` does). */
function decoded(res: IncomingMessage): Readable {
  const codings = (res.headers['content-encoding'] ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  // Flushed as they go, as undici's fetch does: a body whose stream lacks its end (an empty one, a
  // missing trailer) yields what it holds instead of failing.
  const zlibFlush = { flush: constants.Z_SYNC_FLUSH, finishFlush: constants.Z_SYNC_FLUSH };
  const brotliFlush = { flush: constants.BROTLI_OPERATION_FLUSH, finishFlush: constants.BROTLI_OPERATION_FLUSH };
  const decoders = codings
    .reverse()
    .map((c) => (c === 'br' ? createBrotliDecompress(brotliFlush) : c === 'gzip' || c === 'x-gzip' ? createGunzip(zlibFlush) : c === 'deflate' ? createInflate(zlibFlush) : null));
  if (decoders.length === 0 || decoders.includes(null)) return res;
  // A failure anywhere (the connection, a corrupt stream) ends the last stream with it.
  return pipeline([res, ...(decoders as Readable[])], () => undefined) as unknown as Readable;
}

/** Chunks kept ahead of the reader before the stream is paused. */
const HIGH_WATER_CHUNKS = 16;

/**
 * A Node stream read chunk by chunk, as a {@link BodyReader}: each chunk is handed over as Node
 * made it (no copy), and a stream that closes before its end is a failure, not an end.
 */
class NodeBody implements HttpBody, BodyReader {
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private failure: unknown = null;
  private waiting: { resolve(result: ReadableStreamReadResult<Uint8Array>): void; reject(err: unknown): void } | null = null;
  /** Stops listening to the signal: once the reader has seen the end, a failure or its cancel. */
  private readonly unlisten: () => void;

  constructor(
    private readonly stream: Readable,
    signal: AbortSignal,
  ) {
    // As fetch's: an abort fails the body, even when all of it has arrived (Node's abort would
    // otherwise drop the part still buffered and end the stream as if complete).
    const abort = () => {
      if (this.ended && this.queue.length === 0) return;
      this.failure ??= signal.reason ?? new Error('aborted');
      this.queue.length = 0;
      this.settle();
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    this.unlisten = () => signal.removeEventListener('abort', abort);
    stream.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      const waiting = this.waiting;
      if (waiting) {
        this.waiting = null;
        waiting.resolve({ done: false, value: chunk });
        return;
      }
      this.queue.push(chunk);
      if (this.queue.length >= HIGH_WATER_CHUNKS) stream.pause();
    });
    stream.once('end', () => {
      this.ended = true;
      this.settle();
    });
    stream.on('error', (err) => {
      this.failure ??= err;
      this.settle();
    });
    stream.once('close', () => {
      if (this.ended) return;
      // Node reports a body cut short with an error first; this covers a stream destroyed without one.
      this.failure ??= new Error('the connection closed before the body ended');
      this.settle();
    });
  }

  getReader(): BodyReader {
    return this;
  }

  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const value = this.queue.shift();
    if (value) {
      if (this.queue.length === 0 && this.stream.isPaused()) this.stream.resume();
      return Promise.resolve({ done: false, value });
    }
    if (this.failure || this.ended) this.unlisten();
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.waiting) return Promise.reject(new TypeError('a read of this body is already pending'));
    if (this.stream.isPaused()) this.stream.resume();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  cancel(): Promise<void> {
    this.unlisten();
    if (!this.ended && !this.failure) {
      this.ended = true;
      this.queue.length = 0;
      this.stream.destroy();
      this.settle();
    }
    return Promise.resolve();
  }

  private settle(): void {
    const waiting = this.waiting;
    if (!waiting || this.queue.length > 0) return;
    this.waiting = null;
    this.unlisten();
    if (this.failure) waiting.reject(this.failure);
    else if (this.ended) waiting.resolve({ done: true, value: undefined });
  }
}
