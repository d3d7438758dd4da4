import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, ConnectionError, NotFoundError, OfflineError, ServerError } from '../errors.js';
import { FerryApi } from './ferry-api.js';
import { DEFAULT_RETRY } from './retry.js';

function api(fetchFn: typeof fetch, online = true, serverUrl = 'https://ferry.example.com/base/') {
  return new FerryApi({
    serverUrl,
    appKey: 'fry_ak_1',
    fetch: fetchFn,
    retry: { ...DEFAULT_RETRY, retries: 2, baseDelayMs: 1, maxDelayMs: 2 },
    requestTimeoutMs: 50,
    now: () => Date.now(),
    network: () => ({ online }),
  });
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers });

describe('FerryApi', () => {
  it('joins paths onto the server URL and sends the app key to Ferry only', () => {
    const a = api(fetch);
    expect(a.url('/v1/resolve')).toBe('https://ferry.example.com/base/v1/resolve');
    expect(a.url('https://cdn.example.net/x')).toBe('https://cdn.example.net/x');
    expect(a.headersFor('https://ferry.example.com/base/v1/resolve')).toEqual({ 'x-ferry-app-key': 'fry_ak_1' });
    expect(a.headersFor('https://public.example.org/v1/artifacts/abc')).toEqual({ 'x-ferry-app-key': 'fry_ak_1' });
    expect(a.headersFor('https://cdn.example.net/blob/abc?sig=1')).toEqual({});
  });

  it('turns error answers into typed errors carrying the server code and request id', async () => {
    const a = api(async () => json(401, { error: { code: 'invalid_app_key', message: 'unknown app key', requestId: 'r1' } }));
    const err = await a.resolve({ model: 'm', device: { id: 'd', platform: 'node', sdk: { version: '1' }, capabilities: { backends: [] } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ code: 'invalid_app_key', status: 401, requestId: 'r1', message: 'unknown app key' });
    const notFound = await api(async () => new Response('<html>', { status: 404 })).keys('/v1/keys').catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound).toMatchObject({ code: 'not_found' });
  });

  it('retries 5xx and network errors, then gives up with the last error; 304 is an answer', async () => {
    let calls = 0;
    const flaky = api(async () => (++calls < 3 ? json(503, { error: { code: 'database_unavailable', message: 'x' } }) : new Response(null, { status: 304 })));
    expect(await flaky.resolve({ model: 'm', device: { id: 'd', platform: 'node', sdk: { version: '1' }, capabilities: { backends: [] } } })).toBeNull();
    expect(calls).toBe(3);
    const down = api(async () => json(503, { error: { code: 'database_unavailable', message: 'x' } }));
    await expect(down.keys('/v1/keys')).rejects.toBeInstanceOf(ServerError);
    const refused = api(async () => {
      throw new TypeError('fetch failed');
    });
    await expect(refused.keys('/v1/keys')).rejects.toBeInstanceOf(ConnectionError);
    const offline = api(async () => {
      throw new TypeError('fetch failed');
    }, false);
    await expect(offline.keys('/v1/keys')).rejects.toBeInstanceOf(OfflineError);
  });

  it('times out an answer whose headers came but whose body stalls (a real socket)', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"manifest":"ey'); // …and nothing more
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const a = api(fetch, true, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const started = Date.now();
      const err = await a.keys('/v1/keys').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((ok) => server.close(ok));
    }
  });

  it('types a 200 that is not JSON (a captive portal) as a connection error, over real HTTP', async () => {
    const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Sign in to the hotel Wi-Fi</html>'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const a = api(fetch, true, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const err = await a.resolve({ model: 'm', device: { id: 'd', platform: 'node', sdk: { version: '1' }, capabilities: { backends: [] } } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'network_error', model: 'm' });
      expect((err as Error).message).toMatch(/not JSON/);
      // Telemetry answers are not needed: a body that is not JSON is no failure there.
      expect(await a.sendTelemetry({ device: { id: 'd', platform: 'node', sdk: { version: '1' } }, events: [] } as never)).toEqual({ accepted: 0, duplicates: 0 });
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('times out a request that never answers', async () => {
    const hanging = api((_input, init) => new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))));
    const err = await hanging.keys('/v1/keys').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/timed out/);
  });
});
