import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '@ferry/compress/testing';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
  await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name: 'kept' } });
});
afterAll(async () => {
  await s?.close();
});

async function putBlob(content: string): Promise<string> {
  const sha = createHash('sha256').update(content).digest('hex');
  const file = join(s.app.uploadDir, `${sha}.part`);
  await writeFile(file, content);
  await s.app.blobs.putFile(sha, file, content.length);
  return sha;
}

async function stored(sha: string): Promise<boolean> {
  return (await s.app.blobs.stat(sha)) !== null;
}

describe('artifact garbage collection', () => {
  it('keeps artifacts that versions use', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models/kept/versions',
      headers: { ...s.admin, 'content-type': 'application/octet-stream' },
      payload: Buffer.from(buildMlp({ inputSize: 8, hidden: [4], outputs: 2 })),
    });
    const sha = res.json().sha256 as string;
    const result = await s.app.artifactGc.collect(0);
    expect(result.artifacts).not.toContain(sha);
    expect(result.orphans).not.toContain(sha);
    expect(await stored(sha)).toBe(true);
    const download = await s.app.inject({ url: `/v1/artifacts/${sha}`, headers: { 'x-ferry-app-key': s.appKey } });
    expect(download.statusCode).toBe(200);
  });

  it('removes bytes that no artifact row claims (an interrupted upload), once past the grace period', async () => {
    const orphan = await putBlob('left by a crash between store and commit');
    expect((await s.app.artifactGc.collect()).orphans).not.toContain(orphan);
    expect(await stored(orphan)).toBe(true);
    expect((await s.app.artifactGc.collect(0)).orphans).toContain(orphan);
    expect(await stored(orphan)).toBe(false);
  });

  it('removes artifacts nothing refers to, with their bytes, but not freshly used ones', async () => {
    const unused = await putBlob('no version points here');
    await s.app.db.prisma.artifact.create({ data: { sha256: unused, size: 22n, lastUsedAt: new Date(Date.now() - 2 * 3600_000) } });
    const fresh = await putBlob('an upload is about to reference this');
    await s.app.db.prisma.artifact.create({ data: { sha256: fresh, size: 36n } });

    const result = await s.app.artifactGc.collect();
    expect(result.artifacts).toEqual([unused]);
    expect(await stored(unused)).toBe(false);
    expect(await s.app.db.prisma.artifact.findUnique({ where: { sha256: unused } })).toBeNull();
    expect(await stored(fresh)).toBe(true);
    expect(await s.app.db.prisma.artifact.findUnique({ where: { sha256: fresh } })).not.toBeNull();
  });
});
