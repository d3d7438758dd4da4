import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLog, startTestServer, type TestServer } from '../testing/test-server.js';


let s: TestServer;
const { lines, logger } = capturedLog('info');
beforeAll(async () => {
  s = await startTestServer({ logger });
});
afterAll(async () => {
  await s?.close();
});

const resolveBody = { model: 'nope', device: { id: 'd-1', platform: 'web', sdk: { version: '1.0.0' }, capabilities: { backends: ['wasm'] } } };

describe('request logging', () => {
  it('logs requests with their request id at level info', async () => {
    s.app.log.level = 'info';
    await s.app.inject({ url: '/healthz', headers: { 'x-request-id': 'req-info-1' } });
    const mine = lines.filter((l) => l.reqId === 'req-info-1').map((l) => l.msg);
    expect(mine).toEqual(['incoming request', 'request completed']);
  });

  it('writes nothing for a successful request above its level, but still logs a device route error with the request id', async () => {
    s.app.log.level = 'warn';
    const before = lines.length;
    await s.app.inject({ url: '/healthz', headers: { 'x-request-id': 'req-quiet-1' } });
    expect(lines.length).toBe(before);

    const original = s.app.resolver.resolve;
    s.app.resolver.resolve = () => {
      throw new Error('boom');
    };
    try {
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/resolve',
        headers: { 'x-ferry-app-key': s.appKey, 'x-request-id': 'req-boom-1' },
        payload: resolveBody,
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String), requestId: 'req-boom-1' } });
      expect(res.headers['x-request-id']).toBe('req-boom-1');
    } finally {
      s.app.resolver.resolve = original;
    }
    const logged = lines.slice(before).filter((l) => l.level >= 50);
    expect(logged).toEqual([expect.objectContaining({ reqId: 'req-boom-1', msg: 'unhandled error', err: expect.objectContaining({ message: 'boom' }) })]);
  });
});
