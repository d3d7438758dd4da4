import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MIN_BLOCK_BYTES, type BlockDigests } from '@ferry/protocol';
import { FerryError } from '../errors.js';
import { BlockHasher, blockDigestsOfFile, blockSizeFor } from './block-digests.js';

export interface SpooledUpload {
  /** A private temp file holding the bytes; the caller moves it into the blob store or deletes it. */
  path: string;
  sha256: string;
  size: number;
  /** SHA-256 of each block (see block-digests.ts), for manifests. */
  blocks: BlockDigests;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** Called as bytes arrive, for progress logs. */
  onProgress?: (bytes: number) => void;
  /** The size the client announced (Content-Length): block digests are then made while the bytes stream. */
  sizeHint?: number | undefined;
}

/**
 * Streams an upload to a temp file while hashing it, never holding it in memory.
 * The file is flushed to disk before this resolves. On any failure — too large, client gone,
 * disk full — the temp file is removed and the error rethrown.
 */
export async function spoolUpload(source: Readable, { dir, maxBytes, onProgress, sizeHint }: SpoolOptions): Promise<SpooledUpload> {
  const path = join(dir, `${randomUUID()}.part`);
  const hash = createHash('sha256');
  const blocks = new BlockHasher(sizeHint && sizeHint > 0 ? blockSizeFor(sizeHint) : MIN_BLOCK_BYTES);
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      size += chunk.length;
      if (size > maxBytes) {
        callback(new FerryError('payload_too_large', `the upload exceeds the limit of ${maxBytes} bytes (FERRY_MAX_UPLOAD_BYTES)`));
        return;
      }
      hash.update(chunk);
      blocks.update(chunk);
      onProgress?.(size);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(path, { highWaterMark: 1024 * 1024 }));
    const handle = await open(path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await unlink(path).catch(() => {});
    if (err instanceof FerryError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ECONNABORTED') {
      throw new FerryError('client_closed_request', 'the client closed the connection before the upload finished');
    }
    throw err;
  }
  try {
    // Made while streaming when the block size was known up front; read again otherwise.
    const digests = blocks.blockSize === blockSizeFor(size) ? blocks.finish(size) : await blockDigestsOfFile(path, size);
    return { path, sha256: hash.digest('hex'), size, blocks: digests };
  } catch (err) {
    await unlink(path).catch(() => {});
    throw err;
  }
}

/** The size an HTTP upload announced (Content-Length), if it is one and did. */
export function declaredSize(source: Readable): number | undefined {
  const header = (source as Readable & { headers?: Record<string, string | string[] | undefined> }).headers?.['content-length'];
  const size = typeof header === 'string' ? Number(header) : NaN;
  return Number.isSafeInteger(size) && size > 0 ? size : undefined;
}

/** Bytes hashed and written at a time by {@link spoolBytes}: the event loop runs between two. */
const SPOOL_CHUNK = 1024 * 1024;

/**
 * Writes bytes made in this process (a built variant, an encoding) to a flushed temp file, hashed
 * like an upload; with `blocks`, their block digests too (served artifacts need them, pre-compressed
 * copies do not). Hashed a chunk at a time while the previous one is written: a 1 GiB variant
 * hashed in one call held the event loop (and every request) for about half a second.
 */
export async function spoolBytes(bytes: Uint8Array, dir: string, options: { blocks: true }): Promise<SpooledUpload>;
export async function spoolBytes(bytes: Uint8Array, dir: string, options?: { blocks?: false }): Promise<Omit<SpooledUpload, 'blocks'>>;
export async function spoolBytes(bytes: Uint8Array, dir: string, options: { blocks?: boolean } = {}): Promise<Omit<SpooledUpload, 'blocks'> & { blocks?: BlockDigests }> {
  const path = join(dir, `${randomUUID()}.part`);
  const hash = createHash('sha256');
  const blocks = options.blocks ? new BlockHasher(blockSizeFor(bytes.length)) : null;
  const handle = await open(path, 'wx');
  try {
    for (let offset = 0; offset < bytes.length; offset += SPOOL_CHUNK) {
      const chunk = bytes.subarray(offset, Math.min(offset + SPOOL_CHUNK, bytes.length));
      hash.update(chunk);
      blocks?.update(chunk);
      // Appends at the file's position, the whole chunk (writeFile loops over short writes).
      await handle.writeFile(chunk);
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(path).catch(() => {});
    throw err;
  }
  await handle.close();
  return { path, sha256: hash.digest('hex'), size: bytes.length, ...(blocks ? { blocks: blocks.finish(bytes.length) } : {}) };
}
