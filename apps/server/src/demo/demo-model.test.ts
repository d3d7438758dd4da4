import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestPayload } from '@ferry/protocol';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ config: { seedDemo: true } });
});
afterAll(async () => {
  await s?.close();
});

describe('the demo model of a new installation', () => {
  it('is published in the default project, with labels and processing metadata, for devices to resolve', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/resolve',
      headers: { 'x-ferry-app-key': s.appKey },
      payload: { model: 'digits', device: { id: 'first-device', platform: 'web', sdk: { version: '0.1.0' }, capabilities: { backends: ['wasm'] } } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const jwks = createLocalJWKSet((await s.app.inject('/v1/keys')).json() as JSONWebKeySet);
    const m = (await jwtVerify(res.json().manifest, jwks)).payload as unknown as ManifestPayload;
    expect(m).toMatchObject({ model: 'digits', version: 1 });
    expect(m.metadata.labels).toHaveLength(10);
    expect(m.metadata.preprocessing).toMatchObject({ type: 'image', width: 28, height: 28 });
    expect(m.io?.inputs[0]?.shape).toEqual(['N', 784]);
    const jobs = (await s.app.inject({ url: '/v1/projects/default/jobs', headers: s.admin })).json().jobs;
    expect(jobs.length).toBe(4);
  });

  it('is seeded once: a restart on the same data does not add it again', async () => {
    // One process at a time on a PGlite data dir: stop the first server, as a restart would.
    await s.app.close();
    const again = await startTestServer({
      config: { seedDemo: true },
      reuse: { dataDir: s.config.dataDir, databaseUrl: s.config.databaseUrl, s3: s.config.s3 },
    });
    try {
      const versions = (await again.app.inject({ url: '/v1/projects/default/models/digits/versions', headers: s.admin })).json().versions;
      expect(versions).toHaveLength(1);
    } finally {
      await again.app.close();
    }
  });
});
