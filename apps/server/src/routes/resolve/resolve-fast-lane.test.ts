import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildMlp } from '@ferry/compress/testing';
import { capturedLog, startTestServer, type TestServer } from '../../testing/test-server.js';


let s: TestServer;
let base: string;
const { lines, logger } = capturedLog('warn');

beforeAll(async () => {
  s = await startTestServer({ logger });
  base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  for (const name of ['lane', 'lane-empty']) {
    const created = await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name } });
    expect(created.statusCode).toBe(201);
  }
  const upload = await s.app.inject({
    method: 'POST',
    url: '/v1/projects/default/models/lane/versions',
    headers: { ...s.admin, 'content-type': 'application/octet-stream' },
    payload: Buffer.from(buildMlp({ seed: 7, inputSize: 16, hidden: [8], outputs: 4 })),
  });
  expect(upload.statusCode).toBe(201);
  const published = await s.app.inject({
    method: 'POST',
    url: '/v1/projects/default/models/lane/rollouts',
    headers: s.admin,
    payload: { version: upload.json().version, stages: [100] },
  });
  expect(published.statusCode).toBe(201);
});
afterAll(async () => {
  await s?.close();
});

const device = { id: 'lane-device-1', platform: 'web', sdk: { version: '1.0.0' }, capabilities: { backends: ['wasm'], features: [] } };

interface Exchange {
  status: number;
  body: unknown;
  headers: Record<string, string | undefined>;
}

const SHOWN = ['content-type', 'cache-control', 'access-control-allow-origin', 'access-control-expose-headers'];

function normalize(status: number, text: string, headers: (name: string) => string | undefined, requestId: string | undefined): Exchange {
  const shown = Object.fromEntries(SHOWN.map((h) => [h, headers(h)]));
  shown['x-request-id'] = requestId !== undefined && headers('x-request-id') === requestId ? 'echoed' : headers('x-request-id') ? 'generated' : undefined;
  let body: unknown = text;
  if (text) {
    body = JSON.parse(text);
    const error = (body as { error?: { requestId?: string } }).error;
    if (error?.requestId) error.requestId = error.requestId === headers('x-request-id') ? '<the x-request-id>' : 'MISMATCH';
  }
  return { status, body, headers: shown };
}

/** The same request through Node's HTTP server (the lane takes it) and through app.inject (fastify's route). */
async function both(headers: Record<string, string>, payload: string): Promise<{ lane: Exchange; route: Exchange; taken: boolean }> {
  const take = vi.spyOn(s.app.resolveFastLane, 'take');
  const res = await fetch(`${base}/v1/resolve`, { method: 'POST', headers, body: payload });
  const laneText = await res.text();
  const taken = take.mock.results.some((r) => r.value === true);
  take.mockRestore();
  const lane = normalize(res.status, laneText, (h) => res.headers.get(h) ?? undefined, headers['x-request-id']);
  const injected = await s.app.inject({ method: 'POST', url: '/v1/resolve', headers, payload });
  const route = normalize(injected.statusCode, injected.body, (h) => injected.headers[h] as string | undefined, headers['x-request-id']);
  return { lane, route, taken };
}

const json = { 'content-type': 'application/json' };

describe('resolve fast lane', () => {
  it.each([
    ['a manifest (the first call loads the app key and the model on the way)', { ...json }, { model: 'lane', device }],
    ['a manifest, again, from the caches', { ...json, 'x-request-id': 'lane-req-1' }, { model: 'lane', device }],
    ['a manifest with CORS headers for a web origin', { ...json, origin: 'https://app.example' }, { model: 'lane', device }],
    ['a manifest for a JSON body with a charset', { 'content-type': 'application/json; charset=utf-8' }, { model: 'lane', device }],
    ['model_not_found', { ...json, 'x-request-id': 'lane-req-2', origin: 'https://app.example' }, { model: 'nope', device }],
    ['no_servable_version', { ...json }, { model: 'lane-empty', device }],
    ['no_compatible_variant', { ...json }, { model: 'lane', device: { ...device, capabilities: { backends: ['coreml'] } } }],
    ['a validation error naming the field', { ...json }, { model: 'lane', device: { ...device, capabilities: { backends: 'wasm' } } }],
    ['a validation error for an extra top-level field', { ...json }, { model: 'lane', device, extra: 1 }],
  ])('answers %s exactly as the fastify route does', async (_what, headers, body) => {
    const { lane, route, taken } = await both({ ...headers, 'x-ferry-app-key': s.appKey }, JSON.stringify(body));
    expect(taken).toBe(true);
    expect(lane).toEqual(route);
  });

  it('refuses a cached reference naming more failures than the protocol allows, as the route does', async () => {
    const cached = { version: 1, sha256: 'a'.repeat(64), release: 1, backend: 'wasm' };
    const failed = (n: number) => Array.from({ length: n }, (_, i) => ({ variant: `v${i}`, backend: 'wasm' }));
    const within = await both({ ...json, 'x-ferry-app-key': s.appKey }, JSON.stringify({ model: 'lane', device, cached: { ...cached, failed: failed(64) } }));
    expect(within.lane.status).toBe(200);
    const over = await both({ ...json, 'x-ferry-app-key': s.appKey }, JSON.stringify({ model: 'lane', device, cached: { ...cached, failed: failed(65) } }));
    expect(over.taken).toBe(true);
    expect(over.lane.status).toBe(400);
    expect((over.lane.body as { error: { code: string; message: string } }).error).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('failed') });
    expect(over.lane).toEqual(over.route);
  });

  it.each([
    ['a missing app key', {}],
    ['an unknown app key', { 'x-ferry-app-key': 'fry_ak_nope' }],
  ])('answers %s with 401 invalid_app_key, as the route does', async (_what, key) => {
    const { lane, route, taken } = await both({ ...json, ...key }, JSON.stringify({ model: 'lane', device }));
    expect(taken).toBe(true);
    expect(lane.status).toBe(401);
    expect(lane).toEqual(route);
  });

  it.each([
    ['malformed JSON', '{"model":'],
    ['a nested __proto__ key', `{"model":"lane","device":{"__proto__":{"x":1},"id":"d","platform":"web","sdk":{"version":"1"},"capabilities":{"backends":[]}}}`],
  ])('refuses %s with 400 validation_failed, as the route does', async (_what, payload) => {
    const { lane, route, taken } = await both({ ...json, 'x-ferry-app-key': s.appKey }, payload);
    expect(taken).toBe(true);
    expect(lane.status).toBe(400);
    expect(lane).toEqual(route);
  });

  it('answers 304 when the cached model is current, as the route does', async () => {
    const first = await fetch(`${base}/v1/resolve`, { method: 'POST', headers: { ...json, 'x-ferry-app-key': s.appKey }, body: JSON.stringify({ model: 'lane', device }) });
    const manifest = (await first.json()) as { manifest: string };
    const payload = JSON.parse(Buffer.from(manifest.manifest.split('.')[1]!, 'base64url').toString()) as {
      version: number;
      release: number;
      candidates: { sha256: string }[];
    };
    const cached = { version: payload.version, sha256: payload.candidates[0]!.sha256, release: payload.release };
    const { lane, route, taken } = await both({ ...json, 'x-ferry-app-key': s.appKey }, JSON.stringify({ model: 'lane', device, cached }));
    expect(taken).toBe(true);
    expect(lane.status).toBe(304);
    expect(lane).toEqual(route);
  });

  it('decodes a UTF-8 body that arrives in pieces split inside a character', async () => {
    const bytes = Buffer.from(JSON.stringify({ model: 'nöpe', device }));
    const cut = bytes.indexOf(Buffer.from('ö')) + 1;
    const take = vi.spyOn(s.app.resolveFastLane, 'take');
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/v1/resolve`, {
        method: 'POST',
        headers: { ...json, 'content-length': bytes.length, 'x-ferry-app-key': s.appKey },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.write(bytes.subarray(0, cut));
      setTimeout(() => req.end(bytes.subarray(cut)), 20);
    });
    expect(take.mock.results.map((r) => r.value)).toEqual([true]);
    take.mockRestore();
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body).error.message).toContain('"nöpe"');
  });

  it('leaves other content types, empty bodies and query strings to fastify', async () => {
    const take = vi.spyOn(s.app.resolveFastLane, 'take');
    const text = await fetch(`${base}/v1/resolve`, { method: 'POST', headers: { 'content-type': 'application/xml', 'x-ferry-app-key': s.appKey }, body: '<x/>' });
    expect(text.status).toBe(415);
    const empty = await fetch(`${base}/v1/resolve`, { method: 'POST', headers: { ...json, 'x-ferry-app-key': s.appKey }, body: '' });
    expect(((await empty.json()) as { error: { code: string } }).error.code).toBe('empty_body');
    const query = await fetch(`${base}/v1/resolve?x=1`, { method: 'POST', headers: { ...json, 'x-ferry-app-key': s.appKey }, body: JSON.stringify({ model: 'lane', device }) });
    expect(query.status).toBe(200);
    expect(take.mock.results.map((r) => r.value)).toEqual([false, false, false]);
    take.mockRestore();
  });

  it('logs a server-side failure with the request id and answers 500 in the standard format', async () => {
    const resolve = vi.spyOn(s.app.resolver, 'resolve').mockImplementation(() => {
      throw new Error('lane boom');
    });
    try {
      const { lane, route, taken } = await both({ ...json, 'x-ferry-app-key': s.appKey, 'x-request-id': 'lane-boom' }, JSON.stringify({ model: 'lane', device }));
      expect(taken).toBe(true);
      expect(lane.status).toBe(500);
      expect(lane).toEqual(route);
    } finally {
      resolve.mockRestore();
    }
    const logged = lines.filter((l) => l.reqId === 'lane-boom' && l.level >= 50);
    // Once from the lane, once from the route: the same line.
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ msg: 'unhandled error', err: { message: 'lane boom' } });
    expect(logged[1]).toMatchObject({ msg: 'unhandled error', err: { message: 'lane boom' } });
  });

  it('counts the requests it answers in the route’s metrics', async () => {
    const count = async () => {
      const text = (await s.app.inject('/metrics')).body;
      return Number(/^ferry_http_request_duration_seconds_count\{method="POST",route="\/v1\/resolve"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    await fetch(`${base}/v1/resolve`, { method: 'POST', headers: { ...json, 'x-ferry-app-key': s.appKey }, body: JSON.stringify({ model: 'lane', device }) });
    expect(await count()).toBe(before + 1);
  });
});
