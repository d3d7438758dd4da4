import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { MIN_BLOCK_BYTES, type BlockDigests } from '@ferry/protocol';
/** At most this many blocks per artifact, so a manifest stays small (~2 KiB per candidate). */
export const MAX_BLOCKS = 32;

/**
 * The block size of an artifact of `size` bytes: 1 MiB, doubled until at most {@link MAX_BLOCKS}
 * blocks cover it (7 MiB → 8 blocks of 1 MiB; 100 MiB → 25 of 4 MiB; 1 GiB → 32 of 32 MiB).
 */
export function blockSizeFor(size: number): number {
  let block = MIN_BLOCK_BYTES; // a device's one-shot digest per block costs a call and a copy
  while (block * MAX_BLOCKS < size) block *= 2;
  return block;
}

/** Hashes consecutive blocks of `blockSize` bytes from chunks of any length. */
export class BlockHasher {
  private readonly digests: string[] = [];
  private hash = createHash('sha256');
  private inBlock = 0;
  private total = 0;

  constructor(readonly blockSize: number) {}

  update(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.blockSize - this.inBlock, chunk.length - at);
      this.hash.update(chunk.subarray(at, at + take));
      this.inBlock += take;
      this.total += take;
      at += take;
      if (this.inBlock === this.blockSize) this.next();
    }
  }

  finish(expectedSize: number): BlockDigests {
    if (this.total !== expectedSize) throw new Error(`block digests: read ${this.total} bytes, expected ${expectedSize}`);
    if (this.inBlock > 0) this.next();
    return { size: this.blockSize, sha256: this.digests };
  }

  private next(): void {
    this.digests.push(this.hash.digest('hex'));
    this.hash = createHash('sha256');
    this.inBlock = 0;
  }
}

/**
 * Block digests of a stream of exactly `size` bytes (a spooled file, a stored blob). With
 * `sha256`, the bytes must also hash to it as a whole (stored bytes are not trusted to be what was
 * uploaded: digests of changed bytes would be signed into manifests).
 */
export async function blockDigestsOfStream(stream: Readable, size: number, sha256?: string): Promise<BlockDigests> {
  const hasher = new BlockHasher(blockSizeFor(size));
  const whole = sha256 ? createHash('sha256') : null;
  for await (const chunk of stream) {
    hasher.update(chunk as Uint8Array);
    whole?.update(chunk as Uint8Array);
  }
  const digests = hasher.finish(size);
  const actual = whole?.digest('hex');
  if (sha256 && actual !== sha256) throw new Error(`block digests: the stored bytes hash to ${actual}, not ${sha256}`);
  return digests;
}

/** Block digests of a file of `size` bytes. */
export function blockDigestsOfFile(path: string, size: number): Promise<BlockDigests> {
  return blockDigestsOfStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), size);
}
