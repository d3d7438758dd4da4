import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
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
    expect(requests[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-ferry-app-key': 'k', 'content-length': String(Buffer.byteLength('{"model":"ünï"}')), 'accept-encoding': 'br, gzip, deflate' });
  });

  it('decodes br and gzip bodies; asks for identity when told to, and gets the bytes as sent', async () => {
    const plain = bodyOf(3 * 1024 * 1024 + 11);
    const { url, requests } = await serve((req, res) => {
      const coding = req.url!.slice(1);
      const sent = coding === 'br' ? brotliCompressSync(plain) : coding === 'gzip' ? gzipSync(plain) : plain;
      res.writeHead(200, coding === 'identity' ? {} : { 'content-encoding': coding });
      res.end(sent);
    });
    for (const coding of ['br', 'gzip']) {
      const bytes = await readAll(await nodeHttp(`${url}/${coding}`, { headers: {}, signal: signal() }));
      expect([coding, bytes.byteLength, sha(bytes)]).toEqual([coding, plain.byteLength, sha(plain)]);
    }
    const identity = await readAll(await nodeHttp(`${url}/identity`, { headers: { 'accept-encoding': 'identity' }, signal: signal() }));
    expect(sha(identity)).toBe(sha(plain));
    expect(requests[2]!.headers['accept-encoding']).toBe('identity');
  });

  it('a corrupt compressed body fails its reader instead of ending', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(Buffer.concat([gzipSync(bodyOf(100_000)).subarray(0, 500), Buffer.from('not gzip at all')]));
    });
    await expect(readAll(await nodeHttp(url, { headers: {}, signal: signal() }))).rejects.toThrow();
  });

  it('follows redirects as fetch does: a 303 of a POST is a GET, authorization stays with its origin', async () => {
    const other = await serve((_req, res) => res.end('from the other origin'));
    const { url, requests } = await serve((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/here' }).end();
      else if (req.url === '/post') res.writeHead(303, { location: '/here' }).end();
      else if (req.url === '/away') res.writeHead(307, { location: `${other.url}/there` }).end();
      else res.end(`${req.method} ${req.url}`);
    });
    expect(await (await nodeHttp(`${url}/moved`, { headers: {}, signal: signal() })).text()).toBe('GET /here');
    const posted = await nodeHttp(`${url}/post`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: signal() });
    expect(await posted.text()).toBe('GET /here');
    expect(requests.at(-1)!.headers['content-type']).toBeUndefined();
    const away = await nodeHttp(`${url}/away`, { headers: { authorization: 'Bearer secret', 'x-ferry-app-key': 'k' }, signal: signal() });
    expect(await away.text()).toBe('from the other origin');
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
    expect(other.requests[0]!.headers['x-ferry-app-key']).toBe('k');
  });

  it('gives up after 20 redirects, and on a redirect to another scheme', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/ftp') res.writeHead(302, { location: 'ftp://example.test/x' }).end();
      else res.writeHead(302, { location: `/loop${Number(req.url!.slice(5) || 0) + 1}` }).end();
    });
    await expect(nodeHttp(`${url}/loop0`, { headers: {}, signal: signal() })).rejects.toThrow(/more than 20 redirects/);
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

  it('cancel ends a body at once, and the next request still works', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) });
        res.write(bodyOf(64 * 1024)); // The rest never comes.
      } else res.end('ok');
    });
    const answer = await nodeHttp(`${url}/big`, { headers: {}, signal: signal() });
    const reader = answer.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await reader.cancel();
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    expect(await (await nodeHttp(`${url}/small`, { headers: {}, signal: signal() })).text()).toBe('ok');
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
});
