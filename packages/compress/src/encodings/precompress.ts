import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

const DEFAULT_BROTLI_QUALITY = 6;
const DEFAULT_GZIP_LEVEL = 6;

/** A `Content-Encoding` Ferry stores variants in. */
export type ContentEncoding = 'br' | 'gzip';

/** One pre-compressed copy of some bytes. */
export interface EncodedBytes {
  encoding: ContentEncoding;
  bytes: Uint8Array;
  /** `bytes.length`, the size on the wire. */
  size: number;
}

/**
 * Settings of {@link precompress}. The defaults are chosen by measurement on a 10.6 MB model
 * (bench/compress): brotli 9 and gzip 9 shrink a pruned variant only ~0.5 % more than 6 and 6,
 * at 5–8× the CPU time (over 9 s instead of ~1.6 s), and make no difference on fp16 or int8
 * weights. Pass higher levels when bytes on the wire matter more than build time.
 */
export interface PrecompressOptions {
  /** Brotli quality, 0–11. @defaultValue 6 */
  brotliQuality?: number;
  /**
   * Brotli window, 10–24 bits. 24 (16 MiB) is the largest every browser decodes; Brotli's
   * "large window" mode is not used because `Content-Encoding: br` clients cannot read it.
   * @defaultValue 24
   */
  brotliWindowBits?: number;
  /** Gzip level, 1–9. @defaultValue 6 */
  gzipLevel?: number;
}

/**
 * Compresses bytes once for serving with `Accept-Encoding`: brotli, then gzip. Output is
 * deterministic for given bytes and options. Runs on libuv's thread pool, off the event loop.
 *
 * @example
 * ```ts
 * const [br, gz] = await precompress(variantBytes);
 * console.log(br.size, gz.size);
 * ```
 */
export async function precompress(bytes: Uint8Array, options: PrecompressOptions = {}): Promise<EncodedBytes[]> {
  const [br, gz] = await Promise.all([brotli(bytes, options), gzipAsync(bytes, { level: options.gzipLevel ?? DEFAULT_GZIP_LEVEL })]);
  return [
    { encoding: 'br', bytes: br, size: br.length },
    { encoding: 'gzip', bytes: asUint8Array(gz), size: gz.length },
  ];
}

/** Brotli-compresses bytes with the settings of {@link precompress}. */
export async function brotli(bytes: Uint8Array, options: PrecompressOptions = {}): Promise<Uint8Array> {
  const compressed = await brotliAsync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: options.brotliQuality ?? DEFAULT_BROTLI_QUALITY,
      [constants.BROTLI_PARAM_LGWIN]: options.brotliWindowBits ?? 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  return asUint8Array(compressed);
}

function asUint8Array(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
