import { beforeEach, describe, expect, it } from 'vitest';
import { MIN_BLOCK_BYTES } from '@ferry/protocol';
import { DEFAULT_RETRY } from '../http/retry.js';
import { ConnectionError, DownloadAbortedError, DownloadError, IntegrityError, SizeMismatchError } from '../errors.js';
import { FakeFerryServer, sha256Of } from '../../testing/fake-server.js';
import { createTestSigner } from '../../testing/manifest-signer.js';
import { ArtifactDownloader, SINGLE_BLOCK_BYTES, type DownloadProgress } from './artifact-download.js';

const BYTES = new Uint8Array(10_000).map((_, i) => (i * 7) % 251);
const SHA = sha256Of(BYTES);

let server: FakeFerryServer;
beforeEach(async () => {
  server = new FakeFerryServer(await createTestSigner());
  server.artifacts.set(SHA, BYTES);
});

/** Read bodies with a BYOB reader (as browsers do) in the suite run that sets it. */
let byob = false;

function downloader(
  options: { retries?: number; stallTimeoutMs?: number; maxDelayMs?: number; createSha256?: () => Promise<never>; fetch?: typeof fetch; fetchInit?: Pick<RequestInit, 'cache'> } = {},
) {
  return new ArtifactDownloader({
    byob,
    createSha256: options.createSha256,
    fetch: options.fetch ?? server.fetch,
    fetchInit: options.fetchInit,
    retry: { ...DEFAULT_RETRY, retries: options.retries ?? 3, baseDelayMs: 1, maxDelayMs: options.maxDelayMs ?? 5 },
    stallTimeoutMs: options.stallTimeoutMs ?? 5_000,
    monotonic: () => performance.now(),
    now: () => Date.now(),
    connectionError: (url, cause, timedOut) => new ConnectionError(`${url} ${timedOut ? 'timed out' : 'failed'}`, { cause }),
  });
}

const request = (overrides: Partial<Parameters<ArtifactDownloader['download']>[0]> = {}) => ({
  url: `${server.origin}/v1/artifacts/${SHA}`,
  headers: { 'x-ferry-app-key': server.appKey },
  expected: { size: BYTES.byteLength, sha256: SHA },
  model: 'digits',
  variant: 'original',
  ...overrides,
});

describe.each([{ reader: 'default', byob: false }, { reader: 'BYOB', byob: true }])('ArtifactDownloader ($reader reader)', (mode) => {
  beforeEach(() => {
    byob = mode.byob;
  });

  it('downloads, hashes while streaming, and reports progress up to the total', async () => {
    const events: DownloadProgress[] = [];
    const result = await downloader().download(request({ onProgress: (p) => events.push(p) }));
    expect(result.bytes).toEqual(BYTES);
    expect(result.resumed).toBe(false);
    expect(result.transferred).toBe(BYTES.byteLength);
    expect(events.length).toBeGreaterThan(5);
    expect(events.at(-1)).toMatchObject({ bytes: BYTES.byteLength, total: BYTES.byteLength, model: 'digits', variant: 'original' });
    expect(events.every((e, i) => i === 0 || e.bytes > events[i - 1]!.bytes)).toBe(true);
  });

  it('fails at once with download_failed, not as a network error retried, when its hasher cannot be made', async () => {
    const failing = downloader({ createSha256: () => Promise.reject(new Error('no memory for another WebAssembly instance')) });
    const err = await failing.download(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toMatchObject({ code: 'download_failed', message: 'the SHA-256 hasher could not be made' });
    expect(server.requests.filter((r) => r.path.startsWith('/v1/artifacts'))).toHaveLength(1);
  });

  it('resumes with Range and If-Range after the connection drops halfway', async () => {
    server.faults.cutAfter = { bytes: 4096, times: 1 };
    const result = await downloader().download(request());
    expect(result.bytes).toEqual(BYTES);
    expect(result.resumed).toBe(true);
    expect(result.transferred).toBe(BYTES.byteLength);
    const second = server.requests.filter((r) => r.path.startsWith('/v1/artifacts'))[1]!;
    expect(second.headers.range).toBe('bytes=4096-');
    expect(second.headers['if-range']).toBe(`"${SHA}"`);
  });

  it("adds the platform's fetch options (the browser's cache: 'no-store') to every attempt, resumes included", async () => {
    server.faults.cutAfter = { bytes: 4096, times: 1 };
    const inits: RequestInit[] = [];
    const recording: typeof fetch = (input, init) => {
      inits.push(init ?? {});
      return server.fetch(input, init);
    };
    const result = await downloader({ fetch: recording, fetchInit: { cache: 'no-store' } }).download(request());
    expect(result.resumed).toBe(true);
    expect(inits.map((i) => i.cache)).toEqual(['no-store', 'no-store']);
    expect(inits[1]!.headers).toMatchObject({ range: 'bytes=4096-', 'x-ferry-app-key': server.appKey });
    expect(inits.every((i) => i.signal instanceof AbortSignal)).toBe(true);
  });

  it('starts over when the server ignores Range', async () => {
    server.faults = { cutAfter: { bytes: 3000, times: 1 }, ignoreRange: true };
    const result = await downloader().download(request());
    expect(result.bytes).toEqual(BYTES);
    expect(result.resumed).toBe(false);
    expect(result.transferred).toBe(3000 + BYTES.byteLength);
  });

  it('hands every byte to the sink in order, over resumes, and says when it starts over', async () => {
    const sink = (log: string[], parts: Uint8Array[]) => ({
      write: (chunk: Uint8Array) => void parts.push(chunk.slice()),
      restart: () => {
        log.push('restart');
        parts.length = 0;
      },
    });
    const concat = (parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    server.faults.cutAfter = { bytes: 4096, times: 1 };
    let log: string[] = [];
    let parts: Uint8Array[] = [];
    await downloader().download(request({ sink: sink(log, parts) }));
    expect(concat(parts)).toEqual(BYTES);
    expect(log).toEqual([]);

    server.faults = { cutAfter: { bytes: 3000, times: 1 }, ignoreRange: true };
    log = [];
    parts = [];
    await downloader().download(request({ sink: sink(log, parts) }));
    expect(log).toEqual(['restart']);
    expect(concat(parts)).toEqual(BYTES);
  });

  it('keeps going on a link that keeps dropping but makes progress', async () => {
    server.faults.cutAfter = { bytes: 1024, times: 8 };
    const result = await downloader({ retries: 2 }).download(request());
    expect(result.bytes).toEqual(BYTES);
    expect(result.attempts).toBe(9);
  });

  it('retries 503 answers with backoff, then gives up with DownloadError', async () => {
    server.faults.status = { code: 503, times: 2 };
    await expect(downloader().download(request())).resolves.toBeTruthy();
    server.faults.status = { code: 503, times: 10 };
    const err = await downloader({ retries: 2 }).download(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).code).toBe('download_failed');
  });

  it('drops a stalled attempt and resumes', async () => {
    server.faults.stall = { times: 1 };
    const result = await downloader({ stallTimeoutMs: 50 }).download(request());
    expect(result.bytes).toEqual(BYTES);
  });

  it('refuses a byte more than the manifest says, without reading the rest', async () => {
    const longer = new Uint8Array(BYTES.byteLength * 100);
    longer.set(BYTES);
    server.faults.replaceWith = longer;
    const events: DownloadProgress[] = [];
    const err = await downloader().download(request({ onProgress: (p) => events.push(p) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
    expect((err as SizeMismatchError).code).toBe('size_mismatch');
    expect(Math.max(...events.map((e) => e.bytes))).toBeLessThanOrEqual(BYTES.byteLength);
  });

  it('refuses bytes whose SHA-256 differs', async () => {
    const changed = BYTES.slice();
    changed[5000] = changed[5000]! ^ 1;
    server.faults.replaceWith = changed;
    const err = await downloader().download(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe('integrity_mismatch');
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    const err = await downloader()
      .download(request({ signal: controller.signal, onProgress: (p) => p.bytes > 2000 && controller.abort() }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadAbortedError);
    expect((err as DownloadAbortedError).code).toBe('download_aborted');
  });

  it('stops waiting between retries when the signal aborts', async () => {
    server.faults.status = { code: 503, times: 10, retryAfter: '30' };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await downloader({ maxDelayMs: 60_000 }).download(request({ signal: controller.signal })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadAbortedError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reads a body that is not a byte stream (older browsers, polyfills) with the default reader', async () => {
    const plainBodies: typeof fetch = async (input, init) => {
      const res = await server.fetch(input, init);
      const reader = res.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const result = await downloader({ fetch: plainBodies }).download(request());
    expect(result.bytes).toEqual(BYTES);
  });
});

describe('ArtifactDownloader with block digests', () => {
  it("takes an artifact up to the protocol's smallest block for its own single block", () => {
    expect(SINGLE_BLOCK_BYTES).toBe(MIN_BLOCK_BYTES);
  });

  const BLOCK = 64 * 1024;
  const LARGE = new Uint8Array(5 * BLOCK + 1234).map((_, i) => (i * 13 + (i >> 10)) % 253);
  const LARGE_SHA = sha256Of(LARGE);
  const blocksOf = (bytes: Uint8Array) => ({
    size: BLOCK,
    sha256: Array.from({ length: Math.ceil(bytes.length / BLOCK) }, (_, i) => sha256Of(bytes.subarray(i * BLOCK, (i + 1) * BLOCK))),
  });
  const webCrypto = async (bytes: Uint8Array) => Buffer.from(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)).toString('hex');
  /** With `incremental: false` (the default) the incremental hash must not be used: blocks are checked. */
  const blockDownloader = (digest: (bytes: Uint8Array) => Promise<string> = webCrypto, { incremental = false } = {}) =>
    new ArtifactDownloader({
      ...(incremental ? {} : { createSha256: () => Promise.reject(new Error('no incremental hash in this test')) }),
      blockSha256: digest,
      byob: true, // As in browsers, which check blocks.
      fetch: server.fetch,
      retry: { ...DEFAULT_RETRY, retries: 3, baseDelayMs: 1, maxDelayMs: 5 },
      stallTimeoutMs: 5_000,
      monotonic: () => performance.now(),
      now: () => Date.now(),
      connectionError: (url, cause, timedOut) => new ConnectionError(`${url} ${timedOut ? 'timed out' : 'failed'}`, { cause }),
    });
  const largeRequest = (overrides: Partial<Parameters<ArtifactDownloader['download']>[0]> = {}) =>
    request({ url: `${server.origin}/v1/artifacts/${LARGE_SHA}`, expected: { size: LARGE.length, sha256: LARGE_SHA, blocks: blocksOf(LARGE) }, ...overrides });

  beforeEach(() => {
    server.artifacts.set(LARGE_SHA, LARGE);
  });

  it('checks each block with the one-shot digest as it arrives, the short last one too', async () => {
    const hashed: number[] = [];
    const result = await blockDownloader((b) => (hashed.push(b.length), webCrypto(b))).download(largeRequest());
    expect(result.bytes).toEqual(LARGE);
    expect(result.checked).toBe('blocks');
    expect(hashed).toEqual([BLOCK, BLOCK, BLOCK, BLOCK, BLOCK, 1234]);
  });

  it('fails at the first changed block, while the rest has not arrived', async () => {
    const changed = LARGE.slice();
    changed[BLOCK + 17] = changed[BLOCK + 17]! ^ 1;
    server.faults.replaceWith = changed;
    let release: () => void = () => undefined;
    server.faults.hold = { bytes: 3 * BLOCK, until: new Promise<void>((resolve) => (release = resolve)) };
    try {
      const err = await blockDownloader().download(largeRequest()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).message).toMatch(/^block 1 of the artifact/);
    } finally {
      release();
    }
  });

  it('resumes after a drop hashing each block once, and hashes again from block 0 when the server ignores Range', async () => {
    let hashed = 0;
    const counting = (b: Uint8Array) => (hashed++, webCrypto(b));
    server.faults.cutAfter = { bytes: 2 * BLOCK + 100, times: 1 };
    const resumed = await blockDownloader(counting).download(largeRequest());
    expect(resumed).toMatchObject({ resumed: true, checked: 'blocks' });
    expect(resumed.bytes).toEqual(LARGE);
    expect(hashed).toBe(6);

    hashed = 0;
    server.faults = { cutAfter: { bytes: 2 * BLOCK + 100, times: 1 }, ignoreRange: true };
    const restarted = await blockDownloader(counting).download(largeRequest());
    expect(restarted).toMatchObject({ resumed: false, checked: 'blocks' });
    expect(restarted.bytes).toEqual(LARGE);
    expect(hashed).toBe(2 + 6);
  });

  it('hashes the whole when the digest hook fails or throws: a block is never skipped', async () => {
    const changed = LARGE.slice();
    changed[BLOCK + 17] = changed[BLOCK + 17]! ^ 1;
    server.faults.replaceWith = changed;
    let calls = 0;
    const throwing = (b: Uint8Array) => {
      if (++calls === 2) throw new Error('busy');
      return webCrypto(b);
    };
    // The changed block's digest was never made: the whole is hashed, and refused.
    const err = await blockDownloader(throwing, { incremental: true }).download(largeRequest()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toMatch(/^the artifact's SHA-256 is/);
    // Unchanged bytes and a hook that always rejects: downloaded, checked as a whole.
    server.faults = {};
    const rejecting = blockDownloader(() => Promise.reject(new Error('no WebCrypto here after all')), { incremental: true });
    await expect(rejecting.download(largeRequest())).resolves.toMatchObject({ checked: 'sha256', bytes: LARGE });
  });

  it('counts a single block that is the whole artifact as its SHA-256 checked', async () => {
    const small = LARGE.subarray(0, BLOCK - 10);
    const sha = sha256Of(small);
    server.artifacts.set(sha, small);
    const result = await blockDownloader().download(
      request({ url: `${server.origin}/v1/artifacts/${sha}`, expected: { size: small.length, sha256: sha, blocks: { size: BLOCK, sha256: [sha] } } }),
    );
    expect(result).toMatchObject({ checked: 'sha256', bytes: small });
  });

  it('checks an artifact of up to 1 MiB without a list as one block: one digest of the whole', async () => {
    const hashed: number[] = [];
    const result = await blockDownloader((b) => (hashed.push(b.length), webCrypto(b))).download(request());
    expect(result).toMatchObject({ checked: 'sha256', bytes: BYTES });
    expect(hashed).toEqual([BYTES.length]);
    server.faults.replaceWith = BYTES.map((b, i) => (i === 77 ? b ^ 1 : b));
    await expect(blockDownloader().download(request())).rejects.toBeInstanceOf(IntegrityError);
  });

  it('hashes the whole stream when the block list does not fit the size', async () => {
    const wrong = { ...blocksOf(LARGE), sha256: blocksOf(LARGE).sha256.slice(1) };
    const result = await downloader().download(largeRequest({ expected: { size: LARGE.length, sha256: LARGE_SHA, blocks: wrong } }));
    expect(result.checked).toBe('sha256');
    expect(result.bytes).toEqual(LARGE);
  });
});
