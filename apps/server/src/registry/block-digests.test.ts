import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededBytes } from '@ferry/compress/testing';
import { blockDigestsOfStream, blockSizeFor } from './block-digests.js';
import { spoolBytes, spoolUpload } from './upload-spool.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** The expected digests, by slicing: blocks of `size` bytes, the last one short. */
const sliced = (bytes: Uint8Array, size: number) => ({ size, sha256: Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => sha(bytes.subarray(i * size, (i + 1) * size))) });

describe('block digests', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-blocks-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps at most 32 blocks of at least 1 MiB', () => {
    expect(blockSizeFor(1)).toBe(MiB);
    expect(blockSizeFor(7 * MiB)).toBe(MiB);
    expect(blockSizeFor(32 * MiB)).toBe(MiB);
    expect(blockSizeFor(32 * MiB + 1)).toBe(2 * MiB);
    expect(blockSizeFor(1024 * MiB)).toBe(32 * MiB);
  });

  it('hashes each block of a stream, the last one short, and refuses bytes that do not hash to the SHA-256 given', async () => {
    const bytes = seededBytes(3, 2 * MiB + 5);
    const stream = () => Readable.from([Buffer.from(bytes.subarray(0, 700_000)), Buffer.from(bytes.subarray(700_000))]);
    expect(await blockDigestsOfStream(stream(), bytes.length, sha(bytes))).toEqual({
      size: MiB,
      sha256: [sha(bytes.subarray(0, MiB)), sha(bytes.subarray(MiB, 2 * MiB)), sha(bytes.subarray(2 * MiB))],
    });
    await expect(blockDigestsOfStream(stream(), bytes.length, sha(bytes.subarray(1)))).rejects.toThrow(/the stored bytes hash to/);
  });

  it('spools bytes made in this process chunk by chunk: the file, its SHA-256 and (when asked) its block digests are the bytes', async () => {
    for (const n of [0, 1, MiB, 2 * MiB + 3, 33 * MiB + 5]) {
      const bytes = seededBytes(7, n);
      const spooled = await spoolBytes(bytes, dir, { blocks: true });
      expect(spooled).toMatchObject({ sha256: sha(bytes), size: n, blocks: sliced(bytes, blockSizeFor(n)) });
      // Compared as buffers: a deep equality over 33 MiB of elements exhausts the test worker's heap.
      expect(Buffer.compare(await readFile(spooled.path), bytes)).toBe(0);
      await rm(spooled.path);
    }
    const plain = await spoolBytes(seededBytes(8, 100), dir);
    expect(plain).not.toHaveProperty('blocks');
    await rm(plain.path);
  });

  it('makes the same digests while an upload streams, whatever size it announced', async () => {
    const bytes = seededBytes(4, 33 * MiB + 7); // 2 MiB blocks: a hint of 1 MiB is wrong, no hint is too.
    const chunks = () => Readable.from(Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => Buffer.from(bytes.subarray(i * 65536, (i + 1) * 65536))));
    const expected = sliced(bytes, 2 * MiB);
    expect(expected.size).toBe(2 * MiB);
    for (const sizeHint of [bytes.length, undefined, MiB, 100 * MiB]) {
      const spooled = await spoolUpload(chunks(), { dir, maxBytes: 64 * MiB, sizeHint });
      expect(spooled.sha256).toBe(sha(bytes));
      expect(spooled.blocks).toEqual(expected);
      await rm(spooled.path);
    }
  });
});
