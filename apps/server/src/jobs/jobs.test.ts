import { createHash } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp, buildModelWithForeignSubgraph } from '@ferry/compress/testing';
import { BLOCK_DIGESTS_FEATURE, type ManifestPayload, type Version } from '@ferry/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';
import { JobQueue } from './job-queue.js';

let s: TestServer;
// Weight-dominated, so every variant is clearly smaller than the original.
const model = Buffer.from(buildMlp({ inputSize: 256, hidden: [128], outputs: 10, seed: 5 }));

async function upload(name: string, bytes: Buffer): Promise<Version> {
  // Random weights on random inputs leave near-tied logits, where one flipped argmax in a few
  // dozen samples moves top-1 agreement by 3 %; the gate's defaults are tested in @ferry/compress.
  const variantSettings = { tolerance: { int8: { minTop1Agreement: 0.9 }, pruned: { minTop1Agreement: 0.5, minCosine: 0.9 } } };
  await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name, variantSettings } });
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/projects/default/models/${name}/versions`,
    headers: { ...s.admin, 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function version(name: string, v = 1): Promise<Version> {
  return (await s.app.inject({ url: `/v1/projects/default/models/${name}/versions/${v}`, headers: s.admin })).json();
}

async function drain(): Promise<number> {
  let n = 0;
  while (await s.app.jobRunner.runOnce()) n++;
  return n;
}

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe('variant jobs', () => {
  it('queues the variant builds with the upload and shows them pending', async () => {
    const v = await upload('mlp', model);
    expect(v.variants.map((x) => `${x.kind}:${x.status}`)).toEqual(['original:ready', 'fp16:pending', 'int8:pending', 'pruned-50:pending']);
    const jobs = (await s.app.inject({ url: '/v1/projects/default/jobs', headers: s.admin })).json().jobs;
    expect(jobs.map((j: { type: string; variant: string | null; status: string }) => `${j.type}:${j.variant}:${j.status}`).sort()).toEqual([
      'encode:null:queued',
      'variant:fp16:queued',
      'variant:int8:queued',
      'variant:pruned-50:queued',
    ]);
  });

  it('builds each variant off the request path, with its accuracy and its sizes', async () => {
    expect(await drain()).toBe(4);
    const v = await version('mlp');
    const byKind = Object.fromEntries(v.variants.map((x) => [x.kind, x]));
    for (const kind of ['fp16', 'int8']) {
      const x = byKind[kind]!;
      expect(x.status, x.reason).toBe('ready');
      expect(x.accuracy!.cosine).toBeGreaterThan(0.99);
      expect(x.accuracy!.samples).toBeGreaterThan(0);
      expect(x.encodings.map((e) => e.encoding).sort()).toEqual(['br', 'gzip']);
      expect(x.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(byKind.fp16!.size!).toBeLessThan(model.length * 0.51);
    expect(byKind.int8!.size!).toBeLessThan(model.length * 0.27);
    expect(byKind.original!.encodings.length).toBeGreaterThan(0);
    const jobs = (await s.app.inject({ url: '/v1/projects/default/jobs', headers: s.admin })).json().jobs;
    expect(jobs.every((j: { status: string; progress: number }) => j.status === 'succeeded' && j.progress === 1)).toBe(true);
  });

  it('serves the built variants to the devices they suit, pre-compressed', async () => {
    await s.app.inject({ method: 'POST', url: '/v1/projects/default/models/mlp/rollouts', headers: s.admin, payload: { version: 1, stages: [100] } });
    const jwks = createLocalJWKSet((await s.app.inject('/v1/keys')).json() as JSONWebKeySet);
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/resolve',
      headers: { 'x-ferry-app-key': s.appKey },
      payload: { model: 'mlp', device: { id: 'd1', platform: 'web', sdk: { version: '1.0.0' }, capabilities: { backends: ['wasm'] } } },
    });
    const m = (await jwtVerify(res.json().manifest, jwks)).payload as unknown as ManifestPayload;
    expect(m.candidates[0]).toMatchObject({ variant: 'int8', backend: 'wasm', precision: 'int8' });
    expect(m.candidates.map((c) => c.variant)).toContain('original');
    const int8 = m.candidates[0]!;
    expect(int8.encodings.map((e) => e.encoding).sort()).toEqual(['br', 'gzip']);

    const plain = await s.app.inject({ url: int8.url, headers: { 'x-ferry-app-key': s.appKey } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.rawPayload.length).toBe(int8.size);
    const br = await s.app.inject({ url: int8.url, headers: { 'x-ferry-app-key': s.appKey, 'accept-encoding': 'gzip, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(br.rawPayload.length).toBe(int8.encodings.find((e) => e.encoding === 'br')!.size);
    expect(brotliDecompressSync(br.rawPayload).equals(plain.rawPayload)).toBe(true);
    const gz = await s.app.inject({ url: int8.url, headers: { 'x-ferry-app-key': s.appKey, 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(br.headers.etag).not.toBe(plain.headers.etag);
  });

  it('honours a model’s own tolerance: a variant that misses it is kept as rejected, with the reason', async () => {
    await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name: 'strict' } });
    const patched = await s.app.inject({
      method: 'PATCH',
      url: '/v1/projects/default/models/strict',
      headers: s.admin,
      payload: { variantSettings: { kinds: ['pruned-50'], tolerance: { 'pruned-50': { minCosine: 0.999999 } } } },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models/strict/versions',
      headers: { ...s.admin, 'content-type': 'application/octet-stream' },
      payload: model,
    });
    expect(res.json().variants.map((x: { kind: string }) => x.kind)).toEqual(['original', 'pruned-50']);
    await drain();
    const pruned = (await version('strict')).variants.find((x) => x.kind === 'pruned-50')!;
    expect(pruned.status).toBe('rejected');
    expect(pruned.reason).toMatch(/cosine/i);
    expect(pruned.accuracy!.cosine).toBeLessThan(0.999999);
  });
});

describe('a built variant of several blocks', () => {
  it('is served with its block digests to a device that checks blocks, each matching the bytes sent', async () => {
    // ~2.6 MiB of weights: its fp16 variant (~1.3 MiB) spans two 1 MiB blocks.
    const wide = Buffer.from(buildMlp({ inputSize: 1024, hidden: [640], outputs: 10, seed: 9 }));
    await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name: 'wide', variantSettings: { kinds: ['fp16'] } } });
    const uploaded = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models/wide/versions',
      headers: { ...s.admin, 'content-type': 'application/octet-stream' },
      payload: wide,
    });
    expect(uploaded.statusCode, uploaded.body).toBe(201);
    await drain();
    expect((await version('wide')).variants.map((x) => `${x.kind}:${x.status}`)).toEqual(['original:ready', 'fp16:ready']);
    await s.app.inject({ method: 'POST', url: '/v1/projects/default/models/wide/rollouts', headers: s.admin, payload: { version: 1, stages: [100] } });
    const jwks = createLocalJWKSet((await s.app.inject('/v1/keys')).json() as JSONWebKeySet);
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/resolve',
      headers: { 'x-ferry-app-key': s.appKey },
      payload: {
        model: 'wide',
        device: { id: 'd2', platform: 'web', sdk: { version: '1.0.0' }, capabilities: { backends: ['webgpu'], features: ['shader-f16', BLOCK_DIGESTS_FEATURE] } },
      },
    });
    const m = (await jwtVerify(res.json().manifest, jwks)).payload as unknown as ManifestPayload;
    const fp16 = m.candidates.find((c) => c.variant === 'fp16')!;
    expect(fp16.blocks).toBeDefined();
    const bytes = (await s.app.inject({ url: fp16.url, headers: { 'x-ferry-app-key': s.appKey } })).rawPayload;
    expect(bytes.length).toBe(fp16.size);
    const { size, sha256 } = fp16.blocks!;
    expect(sha256).toHaveLength(Math.ceil(bytes.length / size));
    expect(sha256.length).toBeGreaterThan(1);
    expect(sha256).toEqual(sha256.map((_, i) => createHash('sha256').update(bytes.subarray(i * size, (i + 1) * size)).digest('hex')));
  });
});

describe('a model the passes cannot rewrite', () => {
  it('fails its variant jobs with a clear error at once, and the original stays servable', async () => {
    const v = await upload('foreign', Buffer.from(buildModelWithForeignSubgraph()));
    expect(v.variants[0]!.status).toBe('ready');
    await drain();
    const after = await version('foreign');
    for (const x of after.variants.filter((x) => x.kind !== 'original')) {
      expect(x.status).toBe('failed');
      expect(x.reason).toMatch(/subgraph|operator|domain/i);
      expect(x.sha256).toBeNull();
    }
    const jobs = (await s.app.inject({ url: '/v1/projects/default/jobs?status=failed', headers: s.admin })).json().jobs;
    const failed = jobs.filter((j: { model: string }) => j.model === 'foreign');
    expect(failed).toHaveLength(3);
    expect(failed.every((j: { attempts: number; error: string }) => j.attempts === 1 && j.error.length > 0)).toBe(true);

    const published = await s.app.inject({ method: 'POST', url: '/v1/projects/default/models/foreign/rollouts', headers: s.admin, payload: { version: 1, stages: [100] } });
    expect(published.statusCode).toBe(201);
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/resolve',
      headers: { 'x-ferry-app-key': s.appKey },
      payload: { model: 'foreign', device: { id: 'd', platform: 'web', sdk: { version: '1' }, capabilities: { backends: ['wasm'] } } },
    });
    expect(res.statusCode).toBe(200);

    const retried = await s.app.inject({ method: 'POST', url: `/v1/projects/default/jobs/${failed[0].id}/retry`, headers: s.admin });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().status).toBe('queued');
    const again = await s.app.inject({ method: 'POST', url: `/v1/projects/default/jobs/${failed[0].id}/retry`, headers: s.admin });
    expect(again.statusCode).toBe(409);
    await drain();
  });
});

describe('the job queue', () => {
  it('gives each job to exactly one claimant, and takes over a job whose server stopped', async () => {
    const v = await upload('claims', Buffer.from(buildMlp({ inputSize: 8, hidden: [4], outputs: 2, seed: 9 })));
    expect(v.version).toBe(1);
    const a = new JobQueue(s.app.db.prisma, 60_000);
    const b = new JobQueue(s.app.db.prisma, 60_000);
    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).claim()));
    const ids = claims.filter((c) => c !== null).map((c) => c!.id);
    expect(ids.length).toBe(4);
    expect(new Set(ids).size).toBe(ids.length);
    // Nobody finishes them: a's and b's server "died". Once the lease runs out, c takes over.
    const c = new JobQueue(s.app.db.prisma, 60_000);
    expect(await c.claim()).toBeNull();
    const later = new Date(Date.now() + 61_000);
    const taken = await c.claim(later);
    expect(ids).toContain(taken!.id);
    expect(taken!.attempts).toBe(2);
  });
});
