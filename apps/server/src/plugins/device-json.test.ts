import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const device = '{"id":"d-1","platform":"web","sdk":{"version":"1.0.0"},"capabilities":{"backends":["wasm"]}}';

function post(url: string, payload: string) {
  return s.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-ferry-app-key': s.appKey }, payload });
}

describe('device API JSON bodies', () => {
  it('parses a plain body (the answer is about the model, not the body)', async () => {
    const res = await post('/v1/resolve', `{"model":"nope","device":${device}}`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('model_not_found');
    const escaped = await post('/v1/resolve', `{"model":"nope","device":{"id":"appareil-\\u00e9","platform":"web","sdk":{"version":"1.0.0"},"capabilities":{"backends":["wasm"]}}}`);
    expect(escaped.json().error.code).toBe('model_not_found');
  });

  // device and device.capabilities accept extra fields, so the schema alone would let these in.
  it.each([
    ['top-level __proto__', `{"model":"nope","__proto__":{"polluted":true},"device":${device}}`],
    ['__proto__ inside device', `{"model":"nope","device":{"__proto__":{"polluted":true},"id":"d","platform":"web","sdk":{"version":"1"},"capabilities":{"backends":[]}}}`],
    ['constructor.prototype inside capabilities', `{"model":"nope","device":{"id":"d","platform":"web","sdk":{"version":"1"},"capabilities":{"backends":[],"constructor":{"prototype":{"polluted":true}}}}}`],
    ['__proto__ spelled with \\u escapes', `{"model":"nope","device":{"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true},"id":"d","platform":"web","sdk":{"version":"1"},"capabilities":{"backends":[]}}}`],
  ])('refuses a body with a %s key: 400 validation_failed', async (_name, body) => {
    const res = await post('/v1/resolve', body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_failed');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses prototype keys in telemetry too', async () => {
    const res = await post('/v1/telemetry', '{"device":{"id":"d","platform":"web"},"events":[{"__proto__":{"polluted":true}}]}');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_failed');
  });

  it('answers empty and malformed bodies in the standard error format', async () => {
    const empty = await post('/v1/resolve', '');
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toMatchObject({ code: 'empty_body', requestId: expect.any(String) });
    const broken = await post('/v1/resolve', '{"model":');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toMatchObject({ code: 'validation_failed', requestId: expect.any(String) });
  });
});
