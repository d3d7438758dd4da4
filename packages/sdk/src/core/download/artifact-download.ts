import {
  ConnectionError,
  DownloadAbortedError,
  DownloadError,
  FerryError,
  IntegrityError,
  ServerError,
  SizeMismatchError,
  errorFromResponse,
} from '../errors.js';
import { streamingSha256 } from '../hash/sha256.js';
import { backoffDelay, linkSignals, retryAfterMs, sleep, type RetryOptions } from '../http/retry.js';
import type { BodyReader, HttpAnswer, HttpBody, HttpFetch } from '../http/transport.js';
import type { Sha256Hasher } from '../platform.js';

/** A download progress report. */
export interface DownloadProgress {
  /** The model being downloaded. */
  model: string;
  /** The variant being downloaded. */
  variant: string;
  /** Bytes received so far (decoded), resumed ones included. */
  bytes: number;
  /** Bytes in all, from the signed manifest. */
  total: number;
  /** Recent rate in bytes per second (0 until measurable). */
  rate: number;
}

export interface ArtifactDownloadRequest {
  url: string;
  headers: Record<string, string>;
  /**
   * Length and SHA-256 from the signed manifest: anything else is refused. With `blocks` (the
   * manifest's SHA-256 of each block) and a {@link ArtifactDownloaderOptions.blockSha256}, each
   * block is checked as soon as it has arrived instead.
   */
  expected: { size: number; sha256: string; blocks?: { size: number; sha256: string[] } | undefined };
  model: string;
  variant: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: DownloadProgress) => void) | undefined;
  /**
   * Gets each range of bytes as it arrives (views of the result, not changed afterwards), to
   * store them while they download; `restart` when the download starts over from byte 0.
   */
  sink?: { write(chunk: Uint8Array): void; restart(): void } | undefined;
  /**
   * Called once, when the first request is on its way (handed to `fetch`), or when `fetch` threw
   * instead. A download that fails before either does not call it.
   */
  onRequest?: (() => void) | undefined;
}

export interface ArtifactDownloaderOptions {
  fetch: HttpFetch;
  /** Extra options of every artifact request (the platform's `artifactFetchInit`). */
  fetchInit?: Pick<RequestInit, 'cache'> | undefined;
  retry: Required<RetryOptions>;
  /** Abort an attempt when no byte arrives for this long, in ms. */
  stallTimeoutMs: number;
  monotonic: () => number;
  now: () => number;
  /** The incremental SHA-256 of downloads. @defaultValue {@link streamingSha256} */
  createSha256?: (() => Sha256Hasher | Promise<Sha256Hasher>) | undefined;
  /**
   * A one-shot SHA-256 (hex) that runs off the caller's thread (WebCrypto): when the manifest
   * lists block digests, each block is hashed with it as soon as it has arrived, in place of the
   * incremental hash on the main thread.
   */
  blockSha256?: ((bytes: Uint8Array) => Promise<string>) | undefined;
  /** A buffer that need not be zeroed (see {@link Platform.uninitializedBytes}). @defaultValue `new Uint8Array(size)` */
  allocate?: ((size: number) => Uint8Array) | undefined;
  /** Read bodies into a reusable buffer where they are byte streams (see {@link readBody}). */
  byob?: boolean | undefined;
  connectionError: (url: string, cause: unknown, timedOut: boolean, model?: string) => FerryError;
  random?: () => number;
}

/** A verified download. */
export interface DownloadedArtifact {
  bytes: Uint8Array;
  /** Bytes that crossed the network (decoded), over all attempts. */
  transferred: number;
  ms: number;
  /** `Content-Encoding` of the first answer: `br`, `gzip` or `identity`. */
  encoding: string;
  /** True when the download continued after an interruption instead of starting over. */
  resumed: boolean;
  attempts: number;
  /**
   * What the bytes were checked against: the artifact's SHA-256, or the SHA-256 of each of its
   * blocks (the caller checks the whole with a one-shot SHA-256 before it stores them).
   */
  checked: 'sha256' | 'blocks';
}

/** Minimum interval between two rate samples, in ms. */
const RATE_WINDOW_MS = 250;

/**
 * Streams an artifact into memory, hashing each chunk as it arrives and refusing a single byte
 * beyond the manifest's length. A dropped connection resumes with `Range` (guarded by `If-Range`)
 * after an exponential backoff with jitter; a stall counts as a drop. The caller's signal cancels.
 */
export class ArtifactDownloader {
  constructor(private readonly options: ArtifactDownloaderOptions) {}

  async download(request: ArtifactDownloadRequest): Promise<DownloadedArtifact> {
    const { expected, model, signal } = request;
    const { retry } = this.options;
    const started = this.options.monotonic();
    const blockSha256 = this.options.blockSha256;
    // Up to one block's size, the artifact is its own single block (manifests leave such lists out).
    const list = blocksFit(expected.blocks, expected.size)
      ? expected.blocks
      : expected.size > 0 && expected.size <= SINGLE_BLOCK_BYTES
        ? { size: SINGLE_BLOCK_BYTES, sha256: [expected.sha256] }
        : null;
    const blocks = blockSha256 && list ? new BlockCheck(list, expected.size, blockSha256, model) : null;
    const newHasher = this.options.createSha256 ?? streamingSha256;
    // Made while the request goes out (a WebAssembly hasher is instantiated asynchronously).
    const hasherFor = () => {
      if (blocks) return Promise.resolve(NO_HASHER);
      const made = Promise.resolve(newHasher());
      made.catch(() => undefined);
      return made;
    };
    let hasherReady = hasherFor();
    // The manifest says how long it is: filled as it arrives, no copy at the end. Made once the
    // request is on its way (zeroing 7 MiB took ~0.7 ms here, before the request went out), and
    // not zeroed where the platform can (every byte is written before the buffer is used).
    let bytes: Uint8Array | null = null;
    const allocate = (size: number): Uint8Array => {
      const made = this.options.allocate?.(size);
      return made?.byteLength === size ? made : new Uint8Array(size);
    };
    let asked = false;
    const requested = () => {
      if (asked) return;
      asked = true;
      request.onRequest?.();
    };
    let received = 0;
    let transferred = 0;
    let etag: string | null = null;
    let encoding: string | null = null;
    let resumed = false;
    let attempts = 0;
    let failuresInARow = 0;
    const rate = { bytes: 0, at: started, value: 0 };

    const progress = () => {
      const now = this.options.monotonic();
      if (now - rate.at >= RATE_WINDOW_MS) {
        const sample = ((received - rate.bytes) * 1000) / (now - rate.at);
        rate.value = rate.value === 0 ? sample : rate.value * 0.5 + sample * 0.5;
        rate.bytes = received;
        rate.at = now;
      }
      request.onProgress?.({ model, variant: request.variant, bytes: received, total: expected.size, rate: Math.round(rate.value) });
    };
    const restart = () => {
      hasherReady = hasherFor();
      blocks?.restart();
      received = 0;
      rate.bytes = 0;
      request.sink?.restart();
    };

    while (received < expected.size || attempts === 0) {
      if (signal?.aborted) throw new DownloadAbortedError(undefined, { model });
      attempts++;
      const stall = new AbortController();
      const { stallTimeoutMs } = this.options;
      // One timer per attempt, pushed back by the bytes that arrived meanwhile (not re-armed per chunk).
      let lastActivity = this.options.monotonic();
      const checkStall = () => {
        const idle = this.options.monotonic() - lastActivity;
        if (idle >= stallTimeoutMs) stall.abort();
        else stallTimer = setTimeout(checkStall, stallTimeoutMs - idle);
      };
      let stallTimer: ReturnType<typeof setTimeout> | undefined = setTimeout(checkStall, stallTimeoutMs);
      const armStall = () => {
        lastActivity = this.options.monotonic();
      };
      const linked = linkSignals(signal, stall.signal);
      // A block that fails its check ends the attempt at once, even while no byte arrives.
      if (blocks) blocks.onFailure = () => stall.abort();
      const receivedBefore = received;
      let retryAfter: number | undefined;
      try {
        const headers: Record<string, string> = { ...request.headers };
        if (received > 0) {
          headers.range = `bytes=${received}-`;
          // Offsets count decoded bytes: resume on the identity representation.
          headers['accept-encoding'] = 'identity';
          if (etag) headers['if-range'] = etag;
        }
        armStall();
        let answer: Promise<HttpAnswer>;
        try {
          answer = this.options.fetch(request.url, { ...this.options.fetchInit, headers, signal: linked.signal });
        } finally {
          requested(); // On its way, or failed to start: either way nothing waits for it any longer.
        }
        if (!bytes) {
          try {
            bytes = allocate(expected.size);
          } catch (err) {
            // No memory for it: not a network failure, and not retried. The request is stopped.
            stall.abort();
            answer.then((r) => r.body?.cancel(), () => undefined).catch(() => undefined);
            throw new DownloadError(`no memory for the artifact's ${expected.size} bytes`, { model, cause: err });
          }
        }
        const res = await answer;
        if (res.status === 206 && received > 0) {
          const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
          if (Number(start) !== received) {
            await res.body?.cancel().catch(() => undefined);
            throw new ServerError('invalid_range', `the server resumed at byte ${start ?? '?'} instead of ${received}`, { model });
          }
          resumed = true;
        } else if (res.status === 200) {
          if (received > 0) restart(); // The server ignored Range (or the ETag changed): start over.
        } else {
          const failure = await errorFromResponse(res, { model });
          if (!(failure instanceof ServerError)) throw failure;
          retryAfter = retryAfterMs(res.headers.get('retry-after'), this.options.now(), retry.maxDelayMs);
          throw failure;
        }
        etag ??= res.headers.get('etag');
        encoding ??= res.headers.get('content-encoding') ?? 'identity';
        if (!res.body) throw new ConnectionError('the artifact answer has no body', { model });
        // A hasher that cannot be made is no network failure: not retried.
        const hasher = await hasherReady.catch(async (err: unknown) => {
          await res.body?.cancel().catch(() => undefined);
          throw new DownloadError('the SHA-256 hasher could not be made', { model, cause: err });
        });
        const reader = this.options.byob ? readBody(res.body, Math.min(expected.size, SCRATCH_BYTES)) : res.body.getReader();
        // Not every fetch ends the body when its signal aborts: cancelling the reader always does.
        const cancel = () => void reader.cancel().catch(() => undefined);
        linked.signal.addEventListener('abort', cancel, { once: true });
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (blocks?.failure) throw blocks.failure;
            if (linked.signal.aborted) throw new ConnectionError('the download stalled', { model });
            if (done) break;
            armStall();
            if (received + value.byteLength > expected.size) {
              throw new SizeMismatchError(`the artifact is longer than the ${expected.size} bytes the manifest says`, { model });
            }
            hasher.update(value);
            bytes.set(value, received);
            request.sink?.write(bytes.subarray(received, received + value.byteLength));
            received += value.byteLength;
            transferred += value.byteLength;
            if (blocks) blocks.arrived(bytes, received);
            progress();
          }
        } finally {
          linked.signal.removeEventListener('abort', cancel);
          reader.cancel().catch(() => undefined);
        }
        if (received < expected.size) throw new ConnectionError(`the connection ended after ${received} of ${expected.size} bytes`, { model });
      } catch (err) {
        if (signal?.aborted) throw new DownloadAbortedError(undefined, { model, cause: err });
        if (blocks?.failure) throw blocks.failure;
        const retryable = !(err instanceof FerryError) || err instanceof ConnectionError || err instanceof ServerError;
        if (!retryable) throw err;
        const failure = err instanceof FerryError ? err : this.options.connectionError(request.url, err, stall.signal.aborted, model);
        // Progress resets the count: a flaky link that keeps moving forward is not given up on.
        failuresInARow = received > receivedBefore ? 1 : failuresInARow + 1;
        if (failuresInARow > retry.retries) {
          throw new DownloadError(`the download failed after ${attempts} attempts: ${failure.message}`, { model, cause: failure });
        }
        await sleep(retryAfter ?? backoffDelay(failuresInARow, retry, this.options.random), signal).catch((e: unknown) => {
          throw e instanceof DownloadAbortedError ? new DownloadAbortedError(undefined, { model }) : e;
        });
        continue;
      } finally {
        clearTimeout(stallTimer);
        linked.dispose();
      }
    }
    bytes ??= allocate(expected.size); // Reached with a byte-less artifact only.
    let checked: DownloadedArtifact['checked'] = 'sha256';
    if (blocks && (await blocks.done())) {
      // One block is the whole artifact: its digest is the artifact's SHA-256, checked already.
      if (!(list!.sha256.length === 1 && list!.sha256[0] === expected.sha256)) checked = 'blocks';
    } else {
      // The stream's incremental hash; or, where the platform's one-shot digest failed, the whole hashed now.
      const hasher = blocks ? await hashWhole(newHasher, bytes, model) : await hasherReady;
      const digest = hasher.digestHex();
      if (digest !== expected.sha256) {
        throw new IntegrityError(`the artifact's SHA-256 is ${digest}, the manifest says ${expected.sha256}`, { model });
      }
    }
    return {
      bytes,
      transferred,
      ms: this.options.monotonic() - started,
      encoding: encoding ?? 'identity',
      resumed,
      attempts,
      checked,
    };
  }
}

/** Largest chunk read at once from a body that is a byte stream (see {@link readBody}). */
const SCRATCH_BYTES = 1024 * 1024;

/**
 * A reader of `body` whose chunks are valid until the next read. Where the body is a byte stream
 * it reads into one reusable buffer of `scratch` bytes (a BYOB reader), so that no buffer is
 * allocated per chunk: in Chromium here a 7 MiB body took 16.7 ms so, against 27.5 ms with a
 * default reader and 28.1 ms with `arrayBuffer()`. The caller copies each chunk into the
 * artifact's own buffer, which the stream never holds: a read that fails loses only the scratch
 * buffer, and a resume keeps every byte received.
 */
function readBody(body: HttpBody, scratch: number): BodyReader {
  // Another client's body (a platform's own `http`) has its own reader.
  if (typeof ReadableStream === 'undefined' || !(body instanceof ReadableStream)) return body.getReader();
  let byob: ReadableStreamBYOBReader;
  try {
    byob = (body as ReadableStream<Uint8Array>).getReader({ mode: 'byob' });
  } catch {
    return body.getReader(); // Not a byte stream (older browsers, some polyfills).
  }
  let buffer = new ArrayBuffer(Math.max(1, scratch));
  return {
    async read() {
      const result = await byob.read(new Uint8Array(buffer));
      // The read transferred the buffer: what it filled is the next one's to fill again.
      if (result.value) buffer = result.value.buffer as ArrayBuffer;
      return result.done ? { done: true, value: undefined } : { done: false, value: result.value! };
    },
    cancel: () => byob.cancel(),
  };
}

/**
 * The smallest block of the protocol (`MIN_BLOCK_BYTES` of `@ferry/protocol`, kept here to keep
 * schemas out of bundles): an artifact up to this size is one block, whose digest is the artifact's SHA-256.
 */
export const SINGLE_BLOCK_BYTES = 1024 * 1024;

/** The smallest block checked one by one (the server's are 1 MiB or more). */
const MIN_BLOCK_BYTES = 64 * 1024;

/** True when `blocks` lists one SHA-256 (hex) per block of an artifact of `size` bytes. */
export function blocksFit(blocks: unknown, size: unknown): blocks is { size: number; sha256: string[] } {
  if (typeof blocks !== 'object' || blocks === null || typeof size !== 'number') return false;
  const b = blocks as { size?: unknown; sha256?: unknown };
  if (typeof b.size !== 'number' || !Number.isSafeInteger(b.size) || b.size < MIN_BLOCK_BYTES || !Array.isArray(b.sha256)) return false;
  return b.sha256.length === Math.ceil(size / b.size) && b.sha256.every((d) => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d));
}

/** An incremental hasher fed all of `bytes` at once. */
async function hashWhole(newHasher: () => Sha256Hasher | Promise<Sha256Hasher>, bytes: Uint8Array, model: string): Promise<Sha256Hasher> {
  const hasher = await Promise.resolve(newHasher()).catch((err: unknown) => {
    throw new DownloadError('the SHA-256 hasher could not be made', { model, cause: err });
  });
  hasher.update(bytes);
  return hasher;
}

/** Stands in for the incremental hasher when blocks are checked instead. */
const NO_HASHER: Sha256Hasher = { update: () => undefined, digestHex: () => '' };

/**
 * Checks each block of a download against the manifest's digests as soon as it is complete, with
 * a one-shot SHA-256 (WebCrypto copies the block when called and hashes it off the main thread).
 * A block that does not match fails the download at the next chunk, not at its end.
 */
class BlockCheck {
  private next = 0;
  private checks: Promise<void>[] = [];
  private generation = 0;
  /** The first block that did not match its digest (an {@link IntegrityError}). */
  failure: unknown = null;
  /** Set when the platform's digest failed: the caller hashes the whole instead. */
  private unavailable = false;
  /** Called when a check fails. */
  onFailure: () => void = () => undefined;

  constructor(
    private readonly blocks: { size: number; sha256: string[] },
    private readonly total: number,
    private readonly digest: (bytes: Uint8Array) => Promise<string>,
    private readonly model: string,
  ) {}

  /** `received` bytes of `bytes` are in: hashes every block they complete; throws a failure already known. */
  arrived(bytes: Uint8Array, received: number): void {
    if (this.failure) throw this.failure;
    const { size } = this.blocks;
    while (this.next < this.blocks.sha256.length) {
      const start = this.next * size;
      const end = Math.min(start + size, this.total);
      if (received < end) break;
      const index = this.next++;
      if (this.unavailable) continue;
      const generation = this.generation;
      let digest: Promise<string>;
      try {
        digest = this.digest(bytes.subarray(start, end)); // Called now: it copies the block before more bytes land.
      } catch (err) {
        digest = Promise.reject(err); // An adapter's hook that throws instead of rejecting: as if it rejected.
      }
      const check = digest.then(
        (actual) => {
          if (generation !== this.generation || actual === this.blocks.sha256[index]) return;
          throw new IntegrityError(`block ${index} of the artifact (bytes ${start}–${end - 1}) has SHA-256 ${actual}, the manifest says ${this.blocks.sha256[index]}`, {
            model: this.model,
          });
        },
        () => {
          // The block is not skipped: the whole artifact is hashed once it is in (see done).
          if (generation === this.generation) this.unavailable = true;
        },
      );
      check.catch((err: unknown) => {
        if (this.failure) return;
        this.failure = err;
        this.onFailure();
      });
      this.checks.push(check);
    }
  }

  /** The download starts over from byte 0: checks under way no longer count. */
  restart(): void {
    this.generation++;
    this.next = 0;
    this.checks = [];
    this.failure = null;
  }

  /** Waits for every block's check; throws the first failure. False when some digest could not be made: hash the whole. */
  async done(): Promise<boolean> {
    await Promise.all(this.checks);
    if (this.next !== this.blocks.sha256.length) throw new IntegrityError('the artifact ended before its last block', { model: this.model });
    return !this.unavailable;
  }
}
