import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDirectory } from './directory-lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lockDirectory', () => {
  it('is held by one taker at a time: the next gets it once the first lets go, and the directory is gone after', async () => {
    const path = join(dir, 'lock');
    const first = (await lockDirectory(path))!;
    expect(first).toBeTypeOf('function');
    const order: string[] = [];
    const second = lockDirectory(path).then((release) => (order.push('second'), release));
    await new Promise((r) => setTimeout(r, 50));
    order.push('first lets go');
    await first();
    await (await second)!();
    expect(order).toEqual(['first lets go', 'second']);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('takes over a lock its holder stopped renewing (a process that died), and not one held now', async () => {
    const path = join(dir, 'lock');
    await mkdir(path);
    const old = new Date(Date.now() - 20_000);
    await utimes(path, old, old);
    const release = await lockDirectory(path);
    expect(release).toBeTypeOf('function');
    // Now held (made just now): another taker waits instead of taking it over.
    let taken = false;
    const other = lockDirectory(path).then((r) => ((taken = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(taken).toBe(false);
    await release!();
    await (await other)!();
  });

  it('answers null at once when the lock cannot be made for another reason (no such directory, a read-only cache)', async () => {
    expect(await lockDirectory(join(dir, 'missing', 'lock'))).toBeNull();
  });
});
