import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, tempDir } from '../testing/test-env.js';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

async function readAll(store: BlobStore, hash: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.read(hash, range)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.each(['local', 's3'] as const)('%s blob store', (kind) => {
  let store: BlobStore;
  let spool: string;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    spool = dir.path;
    if (kind === 'local') {
      store = new LocalBlobStore(join(dir.path, 'blobs'));
    } else {
      const s3 = await startS3Server();
      cleanups.push(s3.stop);
      store = new S3BlobStore(s3.config);
    }
  });
  afterAll(async () => {
    await store?.close();
    for (const fn of cleanups.reverse()) await fn();
  });

  async function put(content: string | Buffer): Promise<string> {
    const hash = sha(content);
    const file = join(spool, `${hash}.part`);
    await writeFile(file, content);
    await store.putFile(hash, file, Buffer.byteLength(content));
    expect(existsSync(file)).toBe(false);
    return hash;
  }

  it('stores bytes under their hash and reads them back whole and by range', async () => {
    const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const hash = await put(content);
    expect(await store.stat(hash)).toEqual({ size: content.length });
    expect((await readAll(store, hash)).equals(content)).toBe(true);
    expect((await readAll(store, hash, { start: 1000, end: 1999 })).equals(content.subarray(1000, 2000))).toBe(true);
    expect((await readAll(store, hash, { start: content.length - 1, end: content.length - 1 }))[0]).toBe(content.at(-1));
  });

  it('stores identical bytes once', async () => {
    const a = await put('same bytes');
    const b = await put('same bytes');
    expect(a).toBe(b);
    const listed = [];
    for await (const blob of store.list()) if (blob.sha256 === a) listed.push(blob);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.size).toBe(10);
  });

  it('streams a multi-part sized blob intact', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024 + 123, 7);
    big.write('head', 0);
    big.write('tail', big.length - 4);
    const hash = await put(big);
    const back = await readAll(store, hash);
    expect(back.length).toBe(big.length);
    expect(sha(back)).toBe(hash);
  });

  it('reports a missing blob as artifact_not_found and deletes idempotently', async () => {
    const hash = await put('to be deleted');
    await store.delete(hash);
    await store.delete(hash);
    expect(await store.stat(hash)).toBeNull();
    await expect(store.read(hash)).rejects.toMatchObject({ code: 'artifact_not_found' });
    await expect(store.read('not-a-hash')).rejects.toMatchObject({ code: 'artifact_not_found' });
  });

  it('lists what it holds', async () => {
    const hash = await put('listed');
    const seen: string[] = [];
    for await (const blob of store.list()) seen.push(blob.sha256);
    expect(seen).toContain(hash);
    expect(await text(await store.read(hash))).toBe('listed');
  });

  it('answers ping when reachable', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
