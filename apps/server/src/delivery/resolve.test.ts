import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp, seededBytes } from '@ferry/compress/testing';
import type { CachedModel, Device, ManifestPayload } from '@ferry/protocol';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../blob-store/blob-store.js';
import { Prisma } from '../generated/prisma/client.js';
import { backfillBlockDigests } from '../registry/block-backfill.js';
import { KeyRing } from '../signing/key-ring.js';
import { testMode } from '../testing/test-env.js';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let s: TestServer;
const admin = () => s.admin;

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return s.app.inject({ method, url, headers: { ...admin(), ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
}

async function uploadVersion(model: string, bytes: Uint8Array): Promise<number> {
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/projects/default/models/${model}/versions`,
    headers: { ...admin(), 'content-type': 'application/octet-stream' },
    payload: Buffer.from(bytes),
  });
  expect(res.statusCode).toBe(201);
  return res.json().version;
}

async function attach(model: string, version: number, query: string, bytes: Uint8Array) {
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/projects/default/models/${model}/versions/${version}/variants?${query}`,
    headers: { ...admin(), 'content-type': 'application/octet-stream' },
    payload: Buffer.from(bytes),
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

function device(over: Partial<Device> & { capabilities?: Partial<Device['capabilities']> } = {}): Device {
  const { capabilities, ...rest } = over;
  return {
    id: 'device-1',
    platform: 'web',
    sdk: { version: '1.0.0' },
    ...rest,
    capabilities: { backends: ['wasm'], features: [], ...capabilities },
  };
}

async function resolve(model: string, d: Device, cached?: CachedModel, appKey = s.appKey) {
  return s.app.inject({
    method: 'POST',
    url: '/v1/resolve',
    headers: { 'x-ferry-app-key': appKey },
    payload: { model, device: d, ...(cached ? { cached } : {}) },
  });
}

let jwks: ReturnType<typeof createLocalJWKSet>;
async function refreshJwks() {
  const res = await s.app.inject({ url: '/v1/keys' });
  jwks = createLocalJWKSet(res.json() as JSONWebKeySet);
}

/** Verifies a manifest with nothing but the published JWKS and jose, as a device would. */
async function manifestOf(model: string, d: Device): Promise<ManifestPayload> {
  const res = await resolve(model, d);
  expect(res.statusCode, res.body).toBe(200);
  const { payload } = await jwtVerify(res.json().manifest, jwks, { algorithms: ['EdDSA'], typ: 'ferry-manifest+jwt' });
  return payload as unknown as ManifestPayload;
}

const order = (m: ManifestPayload) => m.candidates.map((c) => `${c.variant}@${c.backend}`);

beforeAll(async () => {
  s = await startTestServer();
  for (const name of ['blocks', 'vision', 'staged', 'gated', 'unpublished', 'withdrawn', 'withdrawn-first', 'archiving']) {
    expect((await call('POST', '/v1/projects/default/models', { name, labels: ['a', 'b'] })).statusCode).toBe(201);
  }
  await refreshJwks();
});
afterAll(async () => {
  await s?.close();
});

describe('capability-aware manifests', () => {
  beforeAll(async () => {
    const v = await uploadVersion('vision', buildMlp({ seed: 1, inputSize: 16, hidden: [8], outputs: 4 }));
    await attach('vision', v, 'kind=webgpu-f16&format=onnx&backends=webgpu&features=shader-f16&precision=fp16', buildMlp({ seed: 2, inputSize: 16, hidden: [8], outputs: 4 }));
    await attach('vision', v, 'kind=wasm-q8&format=onnx&backends=wasm,cpu&precision=int8', buildMlp({ seed: 3, inputSize: 16, hidden: [8], outputs: 4 }));
    await attach('vision', v, 'kind=big-gpu&format=onnx&backends=webgpu&precision=fp32&minMemoryMB=4096', buildMlp({ seed: 4, inputSize: 16, hidden: [8], outputs: 4 }));
    await attach('vision', v, 'kind=tflite-int8&format=tflite&backends=nnapi,tflite&precision=int8&platforms=android', seededBytes(5, 3000));
    const published = await call('POST', '/v1/projects/default/models/vision/rollouts', { version: v, stages: [100] });
    expect(published.statusCode, published.body).toBe(201);
    expect(published.json().status).toBe('completed');
  });

  it('serves WebGPU with shader-f16 the fp16 variant first, then fp32 on the GPU, then wasm int8', async () => {
    const m = await manifestOf('vision', device({ capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 8192 } }));
    expect(order(m)).toEqual(['webgpu-f16@webgpu', 'original@webgpu', 'big-gpu@webgpu', 'wasm-q8@wasm', 'original@wasm']);
    expect(m).toMatchObject({ model: 'vision', project: 'default', version: 1, rollout: null, metadata: { labels: ['a', 'b'] }, aud: s.appKey });
    expect(m.io?.inputs[0]?.name).toBe('input');
    const head = m.candidates[0]!;
    expect(head.url).toBe(`/v1/artifacts/${head.sha256}`);
    expect(m.exp - m.iat).toBeGreaterThanOrEqual(3600);
    expect(m.exp - m.iat).toBeLessThanOrEqual(24 * 3600);
  });

  it('never offers the fp16 variant to WebGPU without shader-f16', async () => {
    const m = await manifestOf('vision', device({ capabilities: { backends: ['webgpu', 'wasm'], features: [], memoryMB: 8192 } }));
    expect(order(m)).toEqual(['original@webgpu', 'big-gpu@webgpu', 'wasm-q8@wasm', 'original@wasm']);
  });

  it('gives a wasm-only browser int8 before fp32', async () => {
    const m = await manifestOf('vision', device({ capabilities: { backends: ['wasm'], features: ['wasm-simd'] } }));
    expect(order(m)).toEqual(['wasm-q8@wasm', 'original@wasm']);
  });

  it('leaves out variants that need more memory than the device has', async () => {
    const m = await manifestOf('vision', device({ capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 1024 } }));
    expect(order(m)).not.toContain('big-gpu@webgpu');
    expect(order(m)[0]).toBe('webgpu-f16@webgpu');
  });

  it('gives an Android device its tflite variant first', async () => {
    const m = await manifestOf('vision', device({ platform: 'android', capabilities: { backends: ['nnapi', 'tflite', 'cpu'] } }));
    expect(order(m)).toEqual(['tflite-int8@nnapi', 'tflite-int8@tflite', 'wasm-q8@cpu', 'original@cpu']);
    expect(m.candidates[0]).toMatchObject({ format: 'tflite', precision: 'int8' });
  });

  it('follows the model’s own serving policy when it has one', async () => {
    expect((await call('PATCH', '/v1/projects/default/models/vision', { servingPolicy: { preference: ['*:original', 'wasm:int8'] } })).statusCode).toBe(200);
    const m = await manifestOf('vision', device({ capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 8192 } }));
    expect(order(m).slice(0, 3)).toEqual(['original@webgpu', 'original@wasm', 'wasm-q8@wasm']);
    await call('PATCH', '/v1/projects/default/models/vision', { servingPolicy: null });
  });

  it('refuses a device no variant fits with a clear error, not a wrong model', async () => {
    const res = await resolve('vision', device({ platform: 'ios', capabilities: { backends: ['coreml'], formats: ['coreml'] } }));
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('no_compatible_variant');
    expect(res.json().error.message).toMatch(/format onnx not supported/);
  });

  it('answers 304 while the cached variant is current, a new manifest once the release moves', async () => {
    const d = device({ capabilities: { backends: ['wasm'] } });
    const m = await manifestOf('vision', d);
    const cached = { version: m.version, sha256: m.candidates[0]!.sha256, release: m.release };
    expect((await resolve('vision', d, cached)).statusCode).toBe(304);
    expect((await resolve('vision', d, { ...cached, release: m.release - 1 })).statusCode).toBe(200);
    await call('PATCH', '/v1/projects/default/models/vision', { description: 'changed' });
    const after = await resolve('vision', d, cached);
    expect(after.statusCode).toBe(200);
  });

  it('answers 304 to a device that names its backend only while that is still the first candidate it has not seen fail', async () => {
    const before = device({ capabilities: { backends: ['wasm'] } });
    const m = await manifestOf('vision', before);
    expect(order(m)[0]).toBe('wasm-q8@wasm');
    const cached: CachedModel = { version: m.version, sha256: m.candidates[0]!.sha256, release: m.release, backend: 'wasm' };
    expect((await resolve('vision', before, cached)).statusCode).toBe(304);
    // The same device with WebGPU now: the manifest that lists the GPU's variant first.
    const gained = device({ capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 8192 } });
    const upgrade = await resolve('vision', gained, cached);
    expect(upgrade.statusCode).toBe(200);
    const { payload } = await jwtVerify(upgrade.json().manifest, jwks, { algorithms: ['EdDSA'] });
    expect(order(payload as unknown as ManifestPayload)[0]).toBe('webgpu-f16@webgpu');
    // Once the GPU's candidates failed here, its int8 bytes on wasm are its best again.
    const failed = ['webgpu-f16', 'original', 'big-gpu'].map((variant) => ({ variant, backend: 'webgpu' }));
    expect((await resolve('vision', gained, { ...cached, failed })).statusCode).toBe(304);
    expect((await resolve('vision', gained, { ...cached, failed: failed.slice(0, 2) })).statusCode).toBe(200);
    // Its bytes on another backend than the one it would try first.
    expect((await resolve('vision', device({ capabilities: { backends: ['wasm', 'cpu'] } }), { ...cached, backend: 'cpu' })).statusCode).toBe(200);
    // An SDK that does not name its backend: any candidate with its bytes is current, as before.
    const { backend: _, ...unnamed } = cached;
    expect((await resolve('vision', gained, unnamed)).statusCode).toBe(304);
  });

  it('refuses a cached reference with more failures than the protocol allows', async () => {
    const d = device();
    const m = await manifestOf('vision', d);
    const failed = Array.from({ length: 65 }, (_, i) => ({ variant: `v${i}`, backend: 'wasm' }));
    const res = await resolve('vision', d, { version: m.version, sha256: m.candidates[0]!.sha256, release: m.release, backend: 'wasm', failed });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_failed');
  });
});

describe('block digests', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  // ~2.2 MiB: three blocks of 1 MiB, the last one short.
  const bytes = buildMlp({ seed: 11, inputSize: 784, hidden: [700], outputs: 10 });
  let artifact = '';
  /** A device that checks blocks (the browser SDK says so). */
  const checking = () => device({ capabilities: { backends: ['wasm'], features: ['wasm-simd', 'block-digests'] } });

  beforeAll(async () => {
    const v = await uploadVersion('blocks', bytes);
    expect((await call('POST', '/v1/projects/default/models/blocks/rollouts', { version: v, stages: [100] })).statusCode).toBe(201);
    artifact = sha(bytes);
  });

  it('signs the SHA-256 of each block of the bytes into every candidate', async () => {
    const m = await manifestOf('blocks', checking());
    const c = m.candidates[0]!;
    expect(c.sha256).toBe(artifact);
    expect(c.blocks?.size).toBe(1024 * 1024);
    const expected = [0, 1, 2].map((i) => sha(bytes.subarray(i * 1024 * 1024, Math.min((i + 1) * 1024 * 1024, bytes.length))));
    expect(bytes.length).toBeGreaterThan(2 * 1024 * 1024);
    expect(c.blocks?.sha256).toEqual(expected);
    // Listed once: the same bytes on a second backend leave them out.
    const twice = (await manifestOf('blocks', device({ capabilities: { backends: ['webgpu', 'wasm'], features: ['block-digests'] } }))).candidates;
    const same = twice.filter((x) => x.sha256 === artifact);
    expect(same.map((x) => x.backend)).toEqual(['webgpu', 'wasm']);
    expect(same.map((x) => x.blocks?.sha256)).toEqual([expected, undefined]);
    // Devices that do not check blocks get no list.
    expect((await manifestOf('blocks', device())).candidates[0]!.blocks).toBeUndefined();
    // An artifact of one block has no list: its digest would be the artifact's SHA-256 again.
    const small = await manifestOf('vision', checking());
    expect(small.candidates.length).toBeGreaterThan(0);
    expect(small.candidates.every((x) => x.blocks === undefined && x.size <= 1024 * 1024)).toBe(true);
  });

  it('refuses a variant that would require block-digests (a flag of SDKs, not a device feature)', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models/blocks/versions/1/variants?kind=odd&format=onnx&backends=wasm&features=wasm-simd,block-digests',
      headers: { ...admin(), 'content-type': 'application/octet-stream' },
      payload: Buffer.from(buildMlp({ seed: 13, inputSize: 16, hidden: [8], outputs: 4 })),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_failed');
  });

  /** Up to `take` artifacts that resolve serves and that have block digests. */
  const servedWithDigests = (take: number) =>
    s.app.db.prisma.artifact.findMany({
      where: { blocks: { not: Prisma.DbNull }, variants: { some: { status: 'ready', version: { state: 'active' } } } },
      select: { sha256: true, blocks: true },
      take,
    });

  it('gives artifacts stored before digests existed theirs in the background, with a new release', async () => {
    const prisma = s.app.db.prisma;
    await prisma.artifact.update({ where: { sha256: artifact }, data: { blocks: Prisma.DbNull } });
    const before = (await call('GET', '/v1/projects/default/models/blocks')).json().release as number;
    await call('PATCH', '/v1/projects/default/models/blocks', { description: 'reload' }); // The serving state reloads without them.
    expect((await manifestOf('blocks', checking())).candidates[0]!.blocks).toBeUndefined();
    const done = await backfillBlockDigests({ prisma, blobs: s.app.blobs, serving: s.app.serving, log: s.app.log });
    expect(done).toEqual({ artifacts: 1, models: 1 });
    const m = await manifestOf('blocks', checking());
    expect(m.release).toBe(before + 2);
    expect(m.candidates[0]!.blocks?.sha256).toHaveLength(3);
    expect(m.candidates[0]!.blocks?.sha256[0]).toBe(sha(bytes.subarray(0, 1024 * 1024)));
    // Nothing left: a second pass changes nothing.
    expect(await backfillBlockDigests({ prisma, blobs: s.app.blobs, serving: s.app.serving, log: s.app.log })).toEqual({ artifacts: 0, models: 0 });
  });

  it('skips an artifact another replica gave its digests to after the list was read, without reading its bytes', async () => {
    const prisma = s.app.db.prisma;
    const served = await servedWithDigests(2);
    expect(served).toHaveLength(2);
    for (const a of served) await prisma.artifact.update({ where: { sha256: a.sha256 }, data: { blocks: Prisma.DbNull } });
    const reads: string[] = [];
    // The other replica finishes whichever artifact this one does not take first, as this one starts reading.
    const blobs: BlobStore = Object.create(s.app.blobs, {
      read: {
        value: async (sha256: string) => {
          if (reads.push(sha256) === 1) {
            const other = served.find((a) => a.sha256 !== sha256)!;
            await prisma.artifact.update({ where: { sha256: other.sha256 }, data: { blocks: other.blocks! } });
          }
          return s.app.blobs.read(sha256);
        },
      },
    });
    expect(await backfillBlockDigests({ prisma, blobs, serving: s.app.serving, log: s.app.log })).toMatchObject({ artifacts: 1 });
    expect(reads).toHaveLength(1);
    const after = await prisma.artifact.findMany({ where: { sha256: { in: served.map((a) => a.sha256) } }, select: { blocks: true } });
    expect(after.every((a) => a.blocks !== null)).toBe(true);
  });

  it('takes the artifacts in an order of its own random source (replicas starting together do not read the same bytes in step)', async () => {
    const prisma = s.app.db.prisma;
    const served = await servedWithDigests(3);
    expect(served.length).toBeGreaterThanOrEqual(2);
    /** The order one pass reads the artifacts in, with `random` as its source. */
    const orderWith = async (random: (max: number) => number) => {
      for (const a of served) await prisma.artifact.update({ where: { sha256: a.sha256 }, data: { blocks: Prisma.DbNull } });
      const reads: string[] = [];
      const blobs: BlobStore = Object.create(s.app.blobs, {
        read: { value: async (sha256: string) => (reads.push(sha256), s.app.blobs.read(sha256)) },
      });
      await backfillBlockDigests({ prisma, blobs, serving: s.app.serving, log: s.app.log, randomInt: random });
      return reads;
    };
    const kept = await orderWith((max) => max - 1); // Every item swapped with itself: the listed order.
    const moved = await orderWith(() => 0);
    expect([...moved].sort()).toEqual([...kept].sort());
    expect(moved).not.toEqual(kept);
  });

  it('never signs digests of stored bytes that no longer hash to their SHA-256', async () => {
    const prisma = s.app.db.prisma;
    const v2 = buildMlp({ seed: 12, inputSize: 784, hidden: [700], outputs: 10 });
    const version = await uploadVersion('blocks', v2);
    expect((await call('POST', '/v1/projects/default/models/blocks/rollouts', { version, stages: [100] })).statusCode).toBe(201);
    const changed = Buffer.from(v2);
    changed[changed.length >> 1] = changed[changed.length >> 1]! ^ 0xff;
    const file = join(s.config.dataDir, 'tampered');
    await writeFile(file, changed);
    await s.app.blobs.putFile(sha(v2), file, changed.length);
    await prisma.artifact.update({ where: { sha256: sha(v2) }, data: { blocks: Prisma.DbNull } });
    const before = (await call('GET', '/v1/projects/default/models/blocks')).json().release as number;
    expect(await backfillBlockDigests({ prisma, blobs: s.app.blobs, serving: s.app.serving, log: s.app.log })).toEqual({ artifacts: 0, models: 0 });
    expect((await prisma.artifact.findUniqueOrThrow({ where: { sha256: sha(v2) } })).blocks).toBeNull();
    const m = await manifestOf('blocks', checking());
    expect(m.release).toBe(before);
    expect(m.candidates[0]!.sha256).toBe(sha(v2));
    expect(m.candidates[0]!.blocks).toBeUndefined();
  });
});

describe('device API errors', () => {
  it.each([
    ['no app key', { headers: {} }, 401, 'invalid_app_key'],
    ['a tampered app key', { headers: { 'x-ferry-app-key': 'fry_ak_tampered' } }, 401, 'invalid_app_key'],
  ])('refuses %s', async (_n, { headers }, status, code) => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/resolve', headers, payload: { model: 'vision', device: device() } });
    expect(res.statusCode).toBe(status);
    expect(res.json().error.code).toBe(code);
  });

  it('refuses a revoked app key', async () => {
    const key = (await call('POST', '/v1/projects/default/app-keys', { name: 'short-lived' })).json();
    expect((await resolve('vision', device(), undefined, key.key)).statusCode).toBe(200);
    await call('DELETE', `/v1/projects/default/app-keys/${key.id}`);
    const res = await resolve('vision', device(), undefined, key.key);
    expect(res.statusCode).toBe(401);
    expect(res.json().error.message).toMatch(/revoked/);
  });

  it.each([
    ['capabilities that are not an object', { model: 'vision', device: { ...device(), capabilities: 'fast' } }],
    ['backends that are not a list', { model: 'vision', device: { ...device(), capabilities: { backends: 'wasm' } } }],
    ['no device id', { model: 'vision', device: { platform: 'web', sdk: { version: '1' }, capabilities: { backends: [] } } }],
    ['a negative memory size', { model: 'vision', device: device({ capabilities: { backends: ['wasm'], memoryMB: -1 } }) }],
    ['unknown top-level fields', { model: 'vision', device: device(), extra: 1 }],
  ])('refuses %s with 400', async (_n, payload) => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/resolve', headers: { 'x-ferry-app-key': s.appKey }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_failed');
  });

  it('refuses a huge body with 413', async () => {
    const huge = device({ capabilities: { backends: ['wasm'], junk: 'x'.repeat(200_000) } as never });
    const res = await resolve('vision', huge);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });

  it('answers unknown models with 404 model_not_found and unpublished ones with no_servable_version', async () => {
    const unknown = await resolve('nope', device());
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('model_not_found');
    await uploadVersion('unpublished', buildMlp({ seed: 5, inputSize: 4, hidden: [2], outputs: 2 }));
    const unpublished = await resolve('unpublished', device());
    expect(unpublished.statusCode).toBe(404);
    expect(unpublished.json().error.code).toBe('no_servable_version');
  });
});

describe('staged rollouts', () => {
  let v1: number;
  let v2: number;
  let rolloutId: string;
  const ids = Array.from({ length: 400 }, (_, i) => `device-${i}`);

  beforeAll(async () => {
    v1 = await uploadVersion('staged', buildMlp({ seed: 11, inputSize: 4, hidden: [2], outputs: 2 }));
    v2 = await uploadVersion('staged', buildMlp({ seed: 12, inputSize: 4, hidden: [2], outputs: 2 }));
    await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v1, stages: [100] });
  });

  async function versionsFor(deviceIds: string[]) {
    const out = new Map<string, ManifestPayload>();
    for (const id of deviceIds) out.set(id, await manifestOf('staged', device({ id })));
    return out;
  }

  it('admits about the stage’s share of devices, and the same ones on every call', async () => {
    const res = await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v2, stages: [10, 50, 100] });
    expect(res.statusCode, res.body).toBe(201);
    rolloutId = res.json().id;
    expect(res.json()).toMatchObject({ status: 'active', stage: 0, percent: 10, previousStableVersion: v1 });
    const first = await versionsFor(ids);
    const inRollout = ids.filter((id) => first.get(id)!.version === v2);
    expect(inRollout.length).toBeGreaterThan(400 * 0.04);
    expect(inRollout.length).toBeLessThan(400 * 0.18);
    expect(first.get(inRollout[0]!)!.rollout).toEqual({ id: rolloutId, stage: 0 });
    const again = await versionsFor(ids);
    expect(ids.filter((id) => again.get(id)!.version === v2)).toEqual(inRollout);
  });

  it.runIf(testMode === 'production')('gives each device the same assignment from a second server on the same database', async () => {
    const other = await startTestServer({ reuse: { dataDir: s.config.dataDir, databaseUrl: s.config.databaseUrl, s3: s.config.s3 } });
    try {
      for (const id of ids.slice(0, 100)) {
        const d = device({ id });
        const [a, b] = await Promise.all([resolve('staged', d), other.app.inject({ method: 'POST', url: '/v1/resolve', headers: { 'x-ferry-app-key': s.appKey }, payload: { model: 'staged', device: d } })]);
        const pa = (await jwtVerify(a.json().manifest, jwks)).payload as unknown as ManifestPayload;
        const pb = (await jwtVerify(b.json().manifest, jwks)).payload as unknown as ManifestPayload;
        expect([pb.version, pb.rollout, pb.release]).toEqual([pa.version, pa.rollout, pa.release]);
      }
      // A change made through the first server reaches the second at its next release check.
      const before = (await call('GET', '/v1/projects/default/models/staged')).json().release;
      await call('PATCH', '/v1/projects/default/models/staged', { description: 'seen by every replica' });
      await other.app.serving.checkReleases();
      const seen = await other.app.inject({ method: 'POST', url: '/v1/resolve', headers: { 'x-ferry-app-key': s.appKey }, payload: { model: 'staged', device: device() } });
      expect(((await jwtVerify(seen.json().manifest, jwks)).payload as unknown as ManifestPayload).release).toBe(before + 1);
    } finally {
      await other.app.close();
    }
  });

  it('refuses a second rollout for an overlapping audience, allows a disjoint one', async () => {
    const v3 = await uploadVersion('staged', buildMlp({ seed: 13, inputSize: 4, hidden: [2], outputs: 2 }));
    const clash = await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v3, stages: [5, 100], targeting: { platforms: ['web'] } });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().error.code).toBe('rollout_conflict');
    const bad = await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v3, stages: [50, 10] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.code).toBe('invalid_rollout');
  });

  it('keeps every admitted device when a stage advances, and admits more', async () => {
    const before = await versionsFor(ids);
    const inBefore = ids.filter((id) => before.get(id)!.version === v2);
    const res = await call('POST', `/v1/projects/default/rollouts/${rolloutId}/advance`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ stage: 1, percent: 50 });
    const after = await versionsFor(ids);
    const inAfter = ids.filter((id) => after.get(id)!.version === v2);
    expect(inBefore.every((id) => inAfter.includes(id))).toBe(true);
    expect(inAfter.length).toBeGreaterThan(400 * 0.4);
    expect(inAfter.length).toBeLessThan(400 * 0.6);
  });

  it('serves the previous version with a higher release after a rollback', async () => {
    const before = await versionsFor(ids.slice(0, 60));
    const admittedId = ids.slice(0, 60).find((id) => before.get(id)!.version === v2)!;
    const rolledOutRelease = before.get(admittedId)!.release;
    const res = await call('POST', `/v1/projects/default/rollouts/${rolloutId}/rollback`, { reason: 'crash rate' });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('rolled_back');
    const after = await manifestOf('staged', device({ id: admittedId }));
    expect(after.version).toBe(v1);
    expect(after.rollout).toBeNull();
    expect(after.release).toBeGreaterThan(rolledOutRelease);
    const again = await call('POST', `/v1/projects/default/rollouts/${rolloutId}/advance`);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('rollout_not_active');
  });

  it('targets by platform, app version and country', async () => {
    const res = await call('POST', '/v1/projects/default/models/staged/rollouts', {
      version: v2,
      stages: [99.99],
      targeting: { platforms: ['web'], appVersion: '>=2.0.0', countries: ['NZ'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    const inside = await manifestOf('staged', device({ id: 'kiwi', appVersion: '2.3.1', country: 'NZ' }));
    const oldApp = await manifestOf('staged', device({ id: 'kiwi', appVersion: '1.9.0', country: 'NZ' }));
    const elsewhere = await manifestOf('staged', device({ id: 'kiwi', appVersion: '2.3.1', country: 'FR' }));
    const android = await manifestOf('staged', device({ id: 'kiwi', platform: 'android', appVersion: '2.3.1', country: 'NZ', capabilities: { backends: ['cpu'] } }));
    expect([inside.version, oldApp.version, elsewhere.version, android.version]).toEqual([v2, v1, v1, v1]);
    await call('POST', `/v1/projects/default/rollouts/${res.json().id}/cancel`);
  });

  it('advances on its schedule, and completing makes the version stable', async () => {
    const res = await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v2, stages: [20, 100], schedule: { intervalMinutes: 30 } });
    const id = res.json().id;
    expect(res.json().nextAdvanceAt).not.toBeNull();
    expect(await s.app.rollouts.advanceDue(new Date())).toEqual([]);
    expect(await s.app.rollouts.advanceDue(new Date(Date.now() + 31 * 60_000))).toEqual([id]);
    const done = await call('GET', `/v1/projects/default/models/staged/rollouts/${id}`);
    expect(done.json()).toMatchObject({ status: 'completed', percent: 100 });
    expect(done.json().events.map((e: { action: string }) => e.action)).toEqual(['start', 'complete']);
    const model = await call('GET', '/v1/projects/default/models/staged');
    expect(model.json().stableVersion).toBe(v2);
    const m = await manifestOf('staged', device({ id: 'anyone' }));
    expect(m.version).toBe(v2);
  });

  it('a scheduled advance moves only from the stage it was due at (an advance by hand in between is not doubled)', async () => {
    const v9 = await uploadVersion('staged', buildMlp({ seed: 19, inputSize: 4, hidden: [2], outputs: 2 }));
    const r = (await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v9, stages: [10, 50, 100], schedule: { intervalMinutes: 30 } })).json();
    const projectId = (await s.app.db.prisma.project.findFirstOrThrow({ where: { name: 'default' } })).id;
    // Due at stage 0, but moved to stage 1 by hand before the scheduler's advance ran.
    expect((await call('POST', `/v1/projects/default/rollouts/${r.id}/advance`)).json().stage).toBe(1);
    await expect(s.app.rollouts.act(projectId, r.id, 'advance', { name: 'scheduler' }, 'scheduled advance', 0)).rejects.toMatchObject({ code: 'rollout_not_active' });
    expect((await call('GET', `/v1/projects/default/models/staged/rollouts/${r.id}`)).json()).toMatchObject({ stage: 1, percent: 50 });
    await call('POST', `/v1/projects/default/rollouts/${r.id}/cancel`);
  });

  it('pauses or rolls back through the guardrail hook, as the rollout says', async () => {
    const v4 = await uploadVersion('staged', buildMlp({ seed: 14, inputSize: 4, hidden: [2], outputs: 2 }));
    const paused = (await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v4, stages: [10, 100] })).json();
    const afterPause = await s.app.rollouts.onGuardrailBreach(paused.id, 'error rate 9% > 2%');
    expect(afterPause?.status).toBe('paused');
    expect(afterPause?.events.at(-1)).toMatchObject({ action: 'pause', actor: 'guardrail', reason: 'error rate 9% > 2%' });
    await call('POST', `/v1/projects/default/rollouts/${paused.id}/cancel`);

    const strict = (await call('POST', '/v1/projects/default/models/staged/rollouts', { version: v4, stages: [10, 100], guardrails: { maxErrorRate: 0.02, onBreach: 'rollback' } })).json();
    const release = (await call('GET', '/v1/projects/default/models/staged')).json().release;
    const rolledBack = await s.app.rollouts.onGuardrailBreach(strict.id, 'p95 latency +40%');
    expect(rolledBack?.status).toBe('rolled_back');
    expect((await call('GET', '/v1/projects/default/models/staged')).json().release).toBeGreaterThan(release);
    expect(await s.app.rollouts.onGuardrailBreach(strict.id, 'again')).toBeNull();
  });

  it('records every rollout change in the audit log', async () => {
    const audit = (await call('GET', '/v1/projects/default/audit?limit=500')).json();
    const actions = new Set(audit.events.map((e: { action: string }) => e.action));
    for (const a of ['rollout.start', 'rollout.advance', 'rollout.rollback', 'rollout.cancel', 'rollout.complete', 'rollout.pause']) {
      expect(actions).toContain(a);
    }
  });
});

describe('compatibility gating', () => {
  it('keeps a device that cannot run the newest version on the newest one it can', async () => {
    const v1 = await uploadVersion('gated', buildMlp({ seed: 21, inputSize: 4, hidden: [2], outputs: 2 }));
    await call('POST', '/v1/projects/default/models/gated/rollouts', { version: v1, stages: [100] });
    const v2 = await uploadVersion('gated', buildMlp({ seed: 22, inputSize: 4, hidden: [2], outputs: 2 }));
    const patched = await call('PATCH', `/v1/projects/default/models/gated/versions/${v2}`, { compatibility: { sdk: '>=2.0.0' } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().compatibility).toEqual({ sdk: '>=2.0.0' });
    await call('POST', '/v1/projects/default/models/gated/rollouts', { version: v2, stages: [100] });

    const modern = await manifestOf('gated', device({ sdk: { version: '2.1.0' } }));
    const legacy = await manifestOf('gated', device({ sdk: { version: '1.4.0' } }));
    expect(modern.version).toBe(v2);
    expect(legacy.version).toBe(v1);

    const bad = await call('PATCH', `/v1/projects/default/models/gated/versions/${v2}`, { compatibility: { sdk: 'not a range!' } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('withdrawn and archived versions', () => {
  const mlp = (seed: number) => buildMlp({ seed, inputSize: 4, hidden: [2], outputs: 2 });

  it('never serves a rolled-back version, not even to a device that cannot run the stable one', async () => {
    const v1 = await uploadVersion('withdrawn', mlp(31));
    // Devices on SDK 1.x cannot take v1.
    await call('PATCH', `/v1/projects/default/models/withdrawn/versions/${v1}`, { compatibility: { sdk: '>=2.0.0' } });
    await call('POST', '/v1/projects/default/models/withdrawn/rollouts', { version: v1, stages: [100] });
    const v2 = await uploadVersion('withdrawn', mlp(32));
    const published = (await call('POST', '/v1/projects/default/models/withdrawn/rollouts', { version: v2, stages: [100] })).json();
    expect((await manifestOf('withdrawn', device({ sdk: { version: '1.0.0' } }))).version).toBe(v2);

    const rolledBack = await call('POST', `/v1/projects/default/rollouts/${published.id}/rollback`, { reason: 'bad model' });
    expect(rolledBack.json().status).toBe('rolled_back');
    expect((await call('GET', '/v1/projects/default/models/withdrawn')).json().stableVersion).toBe(v1);
    expect((await manifestOf('withdrawn', device({ sdk: { version: '2.0.0' } }))).version).toBe(v1);
    const old = await resolve('withdrawn', device({ sdk: { version: '1.0.0' } }));
    expect(old.statusCode, old.body).toBe(422);
    expect(old.json().error.code).toBe('no_compatible_variant');
  });

  it('serves nothing after the first release is rolled back', async () => {
    const v1 = await uploadVersion('withdrawn-first', mlp(33));
    const published = (await call('POST', '/v1/projects/default/models/withdrawn-first/rollouts', { version: v1, stages: [100] })).json();
    expect((await manifestOf('withdrawn-first', device())).version).toBe(v1);
    await call('POST', `/v1/projects/default/rollouts/${published.id}/rollback`);
    expect((await call('GET', '/v1/projects/default/models/withdrawn-first')).json().stableVersion).toBeNull();
    const res = await resolve('withdrawn-first', device());
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error.code).toBe('no_servable_version');
  });

  it('refuses to archive a version a live rollout serves, and rolls back to the version before an archived one', async () => {
    const v1 = await uploadVersion('archiving', mlp(34));
    await call('POST', '/v1/projects/default/models/archiving/rollouts', { version: v1, stages: [100] });
    const v2 = await uploadVersion('archiving', mlp(35));
    const staged = (await call('POST', '/v1/projects/default/models/archiving/rollouts', { version: v2, stages: [10, 100] })).json();
    const refused = await call('DELETE', `/v1/projects/default/models/archiving/versions/${v2}`);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().error.code).toBe('version_served');
    await call('POST', `/v1/projects/default/rollouts/${staged.id}/pause`);
    expect((await call('DELETE', `/v1/projects/default/models/archiving/versions/${v2}`)).statusCode).toBe(409);
    await call('POST', `/v1/projects/default/rollouts/${staged.id}/resume`);
    const done = await call('POST', `/v1/projects/default/rollouts/${staged.id}/advance`);
    expect(done.json().status).toBe('completed');

    // v3 replaces v2; v2 is archived; rolling v3 back must not point stable at the archived v2.
    const v3 = await uploadVersion('archiving', mlp(36));
    const third = (await call('POST', '/v1/projects/default/models/archiving/rollouts', { version: v3, stages: [100] })).json();
    expect((await call('DELETE', `/v1/projects/default/models/archiving/versions/${v2}`)).statusCode).toBe(200);
    await call('POST', `/v1/projects/default/rollouts/${third.id}/rollback`);
    expect((await call('GET', '/v1/projects/default/models/archiving')).json().stableVersion).toBe(v1);
    expect((await manifestOf('archiving', device())).version).toBe(v1);
  });
});

describe('signing keys', () => {
  it('publishes the signing key as JWKS at both addresses, and rotates with an overlap', async () => {
    const keys = (await s.app.inject('/v1/keys')).json();
    const wellKnown = (await s.app.inject('/.well-known/jwks.json')).json();
    expect(wellKnown).toEqual(keys);
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(keys.keys[0].d).toBeUndefined();

    const before = await resolve('vision', device({ id: 'rotating' }));
    const oldKid = decodeProtectedHeader(before.json().manifest).kid;

    const forbidden = await s.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: { authorization: 'Bearer nope' } });
    expect(forbidden.statusCode).toBe(401);
    const rotated = await call('POST', '/v1/keys/rotate', { overlapHours: 48 });
    expect(rotated.statusCode).toBe(200);
    const after = (await s.app.inject('/v1/keys')).json();
    expect(after.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([oldKid, rotated.json().kid].sort());

    // Published first: the replaced key keeps signing until caches of the JWKS (5 min) have the new one.
    await call('PATCH', '/v1/projects/default/models/vision', { description: 'new release' });
    const fresh = await resolve('vision', device({ id: 'rotating' }));
    expect(decodeProtectedHeader(fresh.json().manifest).kid).toBe(oldKid);
    // Six minutes on, a replica loading the same keys signs with the new one.
    const later = new KeyRing(s.app.db.prisma, { now: () => Date.now() + 6 * 60_000 + 1000 });
    await later.init();
    expect(later.signer().kid).toBe(rotated.json().kid);
    await refreshJwks();
    await expect(jwtVerify(before.json().manifest, jwks)).resolves.toBeTruthy();
    await expect(jwtVerify(fresh.json().manifest, jwks)).resolves.toBeTruthy();

    // Without an overlap, the replaced key retires at once and leaves the JWKS; the key
    // replaced before it stays until its own overlap ends.
    const immediate = await call('POST', '/v1/keys/rotate', { overlapHours: 0 });
    const last = (await s.app.inject('/v1/keys')).json();
    expect(last.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([immediate.json().kid, oldKid].sort());
    // The same device, same release, right after: not answered with a manifest signed (and
    // cached) by the retired key, but signed anew, by the new key at once (no publish lead when
    // the replaced key is withdrawn).
    const right = await resolve('vision', device({ id: 'rotating' }));
    expect(decodeProtectedHeader(right.json().manifest).kid).toBe(immediate.json().kid);
    await refreshJwks();
    await expect(jwtVerify(right.json().manifest, jwks)).resolves.toBeTruthy();
  });

  it('answers 304 only while the cached manifest is signed by the current key', async () => {
    const first = await resolve('vision', device({ id: 'kid-check' }));
    const m = decodeJwt(first.json().manifest) as unknown as ManifestPayload;
    const kid = decodeProtectedHeader(first.json().manifest).kid!;
    const cached = { version: m.version, sha256: m.candidates[0]!.sha256, release: m.release };
    expect((await resolve('vision', device({ id: 'kid-check' }), { ...cached, kid })).statusCode).toBe(304);
    expect((await resolve('vision', device({ id: 'kid-check' }), cached)).statusCode).toBe(304);
    const resigned = await resolve('vision', device({ id: 'kid-check' }), { ...cached, kid: 'k_replaced_before' });
    expect(resigned.statusCode).toBe(200);
    expect(decodeProtectedHeader(resigned.json().manifest).kid).toBe(kid);
    expect((decodeJwt(resigned.json().manifest) as unknown as ManifestPayload).version).toBe(m.version);
  });

  it('leaves one active key when two rotations run at once', async () => {
    const [one, two] = await Promise.all([call('POST', '/v1/keys/rotate', { overlapHours: 1 }), call('POST', '/v1/keys/rotate', { overlapHours: 1 })]);
    expect([one.statusCode, two.statusCode]).toEqual([200, 200]);
    expect(await s.app.db.prisma.signingKey.count({ where: { status: 'active' } })).toBe(1);
  });

  it('signs with a key rotated on another replica without waiting for a JWKS request', async () => {
    const replica = new KeyRing(s.app.db.prisma, { refreshMs: 50, publishLeadMs: 0 });
    await replica.init();
    const before = replica.signer().kid;
    replica.startRefresh(() => undefined);
    try {
      const rotated = (await call('POST', '/v1/keys/rotate', { overlapHours: 1 })).json();
      expect(rotated.kid).not.toBe(before);
      const deadline = Date.now() + 5000;
      while (replica.signer().kid !== rotated.kid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(replica.signer().kid).toBe(rotated.kid);
    } finally {
      replica.stopRefresh();
    }
  });
});

describe('telemetry intake', () => {
  it('accepts a batch once per event id', async () => {
    const batch = {
      device: { id: 'install-1', platform: 'web' },
      events: [
        { id: 'evt-00000001', type: 'load', at: Date.now(), model: 'vision', version: 1, backend: 'wasm', ms: 12 },
        { id: 'evt-00000002', type: 'inference', at: Date.now(), model: 'vision', count: 10, latency: { p50: 1, p95: 2, mean: 1.2, max: 3 } },
      ],
    };
    const first = await s.app.inject({ method: 'POST', url: '/v1/telemetry', headers: { 'x-ferry-app-key': s.appKey }, payload: batch });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ accepted: 2, duplicates: 0 });
    const again = await s.app.inject({ method: 'POST', url: '/v1/telemetry', headers: { 'x-ferry-app-key': s.appKey }, payload: batch });
    expect(again.json()).toEqual({ accepted: 0, duplicates: 2 });
    const bad = await s.app.inject({ method: 'POST', url: '/v1/telemetry', headers: { 'x-ferry-app-key': s.appKey }, payload: { device: { id: 'x', platform: 'web' }, events: [] } });
    expect(bad.statusCode).toBe(400);
  });
});
