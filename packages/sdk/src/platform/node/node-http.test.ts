import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpAnswer } from '../../core/http/transport.js';
import { nodeHttp } from './node-http.js';

/** A real HTTP server on loopback; `handle` answers each request. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; server: Server; requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string; socket: Socket }[] }> {
  const requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string; socket: Socket }[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, socket: req.socket });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

let servers: Server[] = [];
beforeEach(() => {
  servers = [];
});
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const signal = () => new AbortController().signal;

async function readAll(answer: HttpAnswer): Promise<Buffer> {
  const reader = answer.body!.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    parts.push(value);
  }
}

/** Bytes that do not compress to nothing, and whose damage the SHA-256 shows. */
const bodyOf = (size: number) => Buffer.from(Uint8Array.from({ length: size }, (_, i) => (i * 7919) % 251));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('nodeHttp', () => {
  it('sends a JSON POST and reads the answer: status, headers, text', async () => {
    const { url, requests } = await serve((_req, res, body) => {
      res.writeHead(201, 'Made', { 'content-type': 'application/json', 'x-request-id': 'r1', 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ echo: JSON.parse(body) as unknown }));
    });
    const answer = await nodeHttp(`${url}/v1/resolve`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-ferry-app-key': 'k' }, body: '{"model":"ünï"}', signal: signal() });
    expect([answer.ok, answer.status, answer.statusText]).toEqual([true, 201, 'Made']);
    expect(answer.headers.get('X-Request-Id')).toBe('r1');
    expect(answer.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(answer.headers.get('etag')).toBeNull();
    expect(JSON.parse(await answer.text())).toEqual({ echo: { model: 'ünï' } });
    expect(requests[0]).toMatchObject({ method: 'POST', url: '/v1/resolve', body: '{"model":"ünï"}' });
    expect(requests[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-ferry-app-key': 'k', 'content-length': String(Buffer.byteLength('{"model":"ünï"}')), 'accept-encoding': 'br, gzip' });
  });

  it('decodes br, gzip and deflate bodies, stacked codings too; asks for identity when told to, and gets the bytes as sent', async () => {
    const plain = bodyOf(3 * 1024 * 1024 + 11);
    const encoders: Record<string, (b: Buffer) => Buffer> = { br: brotliCompressSync, gzip: gzipSync, 'x-gzip': gzipSync, deflate: deflateSync };
    const { url, requests } = await serve((req, res) => {
      const codings = req.url!.slice(1).split(',');
      if (codings[0] === 'identity') return res.end(plain);
      res.writeHead(200, { 'content-encoding': codings.join(', ') });
      res.end(codings.reduce<Buffer>((b, c) => encoders[c]!(b), plain));
    });
    for (const coding of ['br', 'gzip', 'x-gzip', 'deflate', 'gzip,br']) {
      const bytes = await readAll(await nodeHttp(`${url}/${coding}`, { headers: {}, signal: signal() }));
      expect([coding, bytes.byteLength, sha(bytes)]).toEqual([coding, plain.byteLength, sha(plain)]);
    }
    const identity = await readAll(await nodeHttp(`${url}/identity`, { headers: { 'accept-encoding': 'identity' }, signal: signal() }));
    expect(sha(identity)).toBe(sha(plain));
    expect(requests.at(-1)!.headers['accept-encoding']).toBe('identity');
  });

  it('a body that is not in its coding fails its reader; one whose stream lacks its end yields what it holds, as fetch does', async () => {
    const gz = gzipSync(bodyOf(100_000));
    const { url } = await serve((req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      if (req.url === '/text') res.end('this is not gzip at all');
      else if (req.url === '/empty') res.end();
      else res.end(gz.subarray(0, gz.byteLength - 8)); // No trailer.
    });
    await expect(readAll(await nodeHttp(`${url}/text`, { headers: {}, signal: signal() }))).rejects.toThrow(/incorrect header check/);
    expect(await (await nodeHttp(`${url}/empty`, { headers: {}, signal: signal() })).text()).toBe('');
    expect(sha(await readAll(await nodeHttp(`${url}/untrailed`, { headers: {}, signal: signal() })))).toBe(sha(bodyOf(100_000)));
  });

  it('follows redirects as fetch does: a 301/302/303 of a POST is a GET, a 307/308 keeps it, authorization stays with its origin', async () => {
    const other = await serve((_req, res) => res.end('from the other origin'));
    const { url, requests } = await serve((req, res, body) => {
      const status = Number(/^\/(\d+)$/.exec(req.url!)?.[1]);
      if (status) res.writeHead(status, { location: '/here' }).end();
      else if (req.url === '/away') res.writeHead(307, { location: `${other.url}/there` }).end();
      else res.end(`${req.method} ${req.url} ${body}`);
    });
    expect(await (await nodeHttp(`${url}/302`, { headers: {}, signal: signal() })).text()).toBe('GET /here ');
    for (const [status, after] of [[301, 'GET /here '], [302, 'GET /here '], [303, 'GET /here '], [307, 'POST /here {"a":1}'], [308, 'POST /here {"a":1}']] as const) {
      const posted = await nodeHttp(`${url}/${status}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}', signal: signal() });
      expect([status, await posted.text()]).toEqual([status, after]);
      expect(requests.at(-1)!.headers['content-type']).toBe(after.startsWith('GET') ? undefined : 'application/json');
    }
    const away = await nodeHttp(`${url}/away`, { headers: { authorization: 'Bearer secret', 'x-ferry-app-key': 'k' }, signal: signal() });
    expect(await away.text()).toBe('from the other origin');
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
    expect(other.requests[0]!.headers['x-ferry-app-key']).toBe('k');
  });

  it('follows 20 redirects and gives up on the 21st, and on a redirect to another scheme', async () => {
    const { url } = await serve((req, res) => {
      const left = Number(/^\/left(\d+)$/.exec(req.url!)?.[1] ?? NaN);
      if (req.url === '/ftp') res.writeHead(302, { location: 'ftp://example.test/x' }).end();
      else if (left > 0) res.writeHead(302, { location: `/left${left - 1}` }).end();
      else res.end('arrived');
    });
    expect(await (await nodeHttp(`${url}/left20`, { headers: {}, signal: signal() })).text()).toBe('arrived');
    await expect(nodeHttp(`${url}/left21`, { headers: {}, signal: signal() })).rejects.toThrow(/more than 20 redirects/);
    await expect(nodeHttp(`${url}/ftp`, { headers: {}, signal: signal() })).rejects.toThrow(/ftp: URL/);
  });

  it('has no body for 204 and 304; an error status is an answer, not a failure', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304).end();
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
    });
    for (const status of [204, 304]) {
      const answer = await nodeHttp(`${url}/${status}`, { headers: {}, signal: signal() });
      expect([answer.status, answer.body, await answer.text()]).toEqual([status, null, '']);
    }
    const missing = await nodeHttp(`${url}/nothing`, { headers: {}, signal: signal() });
    expect([missing.ok, missing.status, await missing.text()]).toEqual([false, 404, '{"error":{"code":"not_found"}}']);
  });

  it('a body cut short by the server fails its reader (it does not look complete)', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(bodyOf(200_000), () => res.socket?.destroy());
    });
    const answer = await nodeHttp(url, { headers: {}, signal: signal() });
    await expect(readAll(answer)).rejects.toThrow();
  });

  it('does not keep a redirect\'s own body (one that never ends does not hold its connection)', async () => {
    let closed: Promise<void> | null = null;
    const { url } = await serve((req, res) => {
      if (req.url !== '/start') return res.end('here');
      closed = new Promise((resolve) => req.socket.once('close', () => resolve()));
      res.writeHead(302, { location: '/here' });
      res.write('x'.repeat(1000)); // Never ended.
    });
    expect(await (await nodeHttp(`${url}/start`, { headers: {}, signal: signal() })).text()).toBe('here');
    await closed;
  });

  it('the signal aborts a request before its answer, and a body being read', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/slow') return; // Never answers.
      res.writeHead(200, { 'content-length': String(4 * 1024 * 1024) });
      res.write(bodyOf(100_000)); // Then stalls.
    });
    const before = new AbortController();
    const pending = nodeHttp(`${url}/slow`, { headers: {}, signal: before.signal });
    setTimeout(() => before.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    const during = new AbortController();
    const answer = await nodeHttp(`${url}/stall`, { headers: {}, signal: during.signal });
    const reader = answer.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    setTimeout(() => during.abort(), 20);
    await expect(readAll(answer)).rejects.toThrow();
  });

  it('an abort fails a body that has arrived but is not read yet (none of it is passed off as the whole)', async () => {
    const { url } = await serve((_req, res) => res.end(bodyOf(200_000)));
    const controller = new AbortController();
    const answer = await nodeHttp(url, { headers: {}, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 100)); // All of it is in, unread.
    controller.abort();
    await expect(readAll(answer)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('cancel ends a body at once, a read pending too, and closes its connection', async () => {
    let closed: Promise<void> = Promise.resolve();
    const { url } = await serve((req, res) => {
      closed = new Promise((resolve) => req.socket.once('close', () => resolve()));
      res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) });
      res.write('0123456789'); // The rest never comes.
    });
    const reader = (await nodeHttp(url, { headers: {}, signal: signal() })).body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('0123456789');
    const pending = reader.read(); // Waits for bytes that never come.
    await reader.cancel();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    await closed;
  });

  it('holds little of a body its reader lags behind: the connection is paused, not drained into memory', async () => {
    const size = 96 * 1024 * 1024;
    let sent: Socket | null = null;
    const { url } = await serve((req, res) => {
      sent = req.socket;
      res.writeHead(200, { 'content-length': String(size) });
      const chunk = Buffer.alloc(1024 * 1024, 7);
      let left = size / chunk.byteLength;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const reader = (await nodeHttp(url, { headers: {}, signal: signal() })).body!.getReader();
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 300)); // The reader lags.
    // What left the server is held by the client or the kernel's buffers: far from all of it.
    expect(sent!.bytesWritten).toBeLessThan(size / 2);
    await reader.cancel();
  });

  it('reads a large body slowly without losing or reordering a byte', async () => {
    const plain = bodyOf(6 * 1024 * 1024 + 3);
    const { url } = await serve((_req, res) => res.end(plain));
    const reader = (await nodeHttp(url, { headers: {}, signal: signal() })).body!.getReader();
    const hash = createHash('sha256');
    let size = 0;
    for (let i = 0; ; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      size += value.byteLength;
      if (i % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect([size, hash.digest('hex')]).toEqual([plain.byteLength, sha(plain)]);
  });

  it('sends a GET once more on a new connection when the kept-alive one was closed under it', async () => {
    let served = 0;
    const { url, requests } = await serve((req, res) => {
      served++;
      // The second request arrives on the first one's connection: closed without an answer, as a server whose idle timeout just fired.
      if (served === 2) req.socket.destroy();
      else res.end(`answer ${served}`);
    });
    expect(await (await nodeHttp(`${url}/a`, { headers: {}, signal: signal() })).text()).toBe('answer 1');
    expect(await (await nodeHttp(`${url}/b`, { headers: {}, signal: signal() })).text()).toBe('answer 3');
    expect(requests.map((r) => r.url)).toEqual(['/a', '/b', '/b']);
    expect(requests[1]!.socket).toBe(requests[0]!.socket);
    expect(requests[2]!.socket).not.toBe(requests[0]!.socket);
    // Not a POST: it may have been processed.
    served = 1;
    await expect(nodeHttp(`${url}/c`, { method: 'POST', headers: {}, body: '{}', signal: signal() })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('does not send a GET again when a new connection fails, nor more than once', async () => {
    const { url, requests } = await serve((req) => req.socket.destroy());
    await expect(nodeHttp(`${url}/fresh`, { headers: {}, signal: signal() })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(requests.map((r) => r.url)).toEqual(['/fresh']);

    // Two kept-alive connections, both closed under the next requests: the retry, on the other one, fails too, and is the last.
    let served = 0;
    const again = await serve((req, res) => (++served <= 2 ? setTimeout(() => res.end('early'), 20) : req.socket.destroy()));
    const early = await Promise.all(['/a1', '/a2'].map(async (path) => (await nodeHttp(`${again.url}${path}`, { headers: {}, signal: signal() })).text()));
    expect(early).toEqual(['early', 'early']);
    await expect(nodeHttp(`${again.url}/b`, { headers: {}, signal: signal() })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(again.requests.map((r) => r.url)).toEqual(['/a1', '/a2', '/b', '/b']);
    expect(again.requests[3]!.socket).not.toBe(again.requests[2]!.socket);
  });
});
