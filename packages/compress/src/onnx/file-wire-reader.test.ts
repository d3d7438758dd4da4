import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileWireReader } from './file-wire-reader.js';
import { OnnxFormatError } from './onnx-format-error.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-wire-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `use` with a reader over `bytes` whose window is only `windowBytes` wide. */
async function withReader<T>(bytes: Uint8Array, windowBytes: number, use: (reader: FileWireReader) => Promise<T>): Promise<T> {
  const path = join(dir, `wire-${Math.random().toString(36).slice(2)}.bin`);
  await writeFile(path, bytes);
  const file = await open(path, 'r');
  try {
    return await use(new FileWireReader(file, bytes.length, windowBytes));
  } finally {
    await file.close();
  }
}

describe('FileWireReader', () => {
  it('reads varints, int64s and bytes that straddle the window edge', async () => {
    const payload = Uint8Array.from({ length: 40 }, (_, i) => i);
    const bytes = new BinaryWriter()
      .tag(1, WireType.Varint)
      .uint64(2n ** 52n + 3n)
      .tag(2, WireType.Varint)
      .int64(-1n)
      .tag(3, WireType.LengthDelimited)
      .bytes(payload)
      .tag(4, WireType.LengthDelimited)
      .uint32(6)
      .raw(Uint8Array.of(0x80, 0x01, 0x05, 0xff, 0xff, 0x03))
      .finish();
    for (const windowBytes of [10, 11, 13, 16, 64 * 1024]) {
      await withReader(bytes, windowBytes, async (reader) => {
        expect(await reader.readTag()).toEqual({ field: 1, wireType: 0, at: 0 });
        expect(await reader.readVarint()).toBe(2 ** 52 + 3);
        expect((await reader.readTag()).field).toBe(2);
        expect(await reader.readVarint64()).toBe(-1n);
        const tag = await reader.readTag();
        expect(await reader.readDelimited(bytes.length, 'payload', tag.at, 1000)).toEqual(payload);
        const packed = await reader.readTag();
        expect(await reader.countVarints(await reader.readPayloadEnd(bytes.length, 'packed', packed.at))).toBe(3);
        expect(reader.position).toBe(bytes.length);
      });
    }
  });

  it('refuses a field longer than the limit it is read with', async () => {
    const bytes = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new Uint8Array(100)).finish();
    await withReader(bytes, 16, async (reader) => {
      const tag = await reader.readTag();
      await expect(reader.readDelimited(bytes.length, 'name', tag.at, 99)).rejects.toThrow('name at byte 0 is 100 bytes, more than the 99-byte limit');
    });
  });

  it('reports a varint cut off by the end of the file as truncated', async () => {
    await withReader(Uint8Array.of(0x08, 0xff, 0xff), 16, async (reader) => {
      await reader.readTag();
      const error = await reader.readVarint().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OnnxFormatError);
      expect((error as Error).message).toBe('truncated at byte 3: varint at byte 1 runs past the end of the file');
    });
  });
});
