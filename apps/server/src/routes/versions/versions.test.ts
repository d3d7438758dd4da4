import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp, buildModelWithExternalData, seededBytes } from '@ferry/compress/testing';
import { startTestServer, type TestServer } from '../../testing/test-server.js';

let s: TestServer;
const mlp = Buffer.from(buildMlp({ inputSize: 784, hidden: [64], outputs: 10, seed: 7 }));
const mlpSha = createHash('sha256').update(mlp).digest('hex');
const MAX = 2 * 1024 * 1024;

beforeAll(async () => {
  s = await startTestServer({ config: { maxUploadBytes: MAX } });
  for (const name of ['digits', 'blobs', 'bad-input', 'cut-short']) {
    const res = await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name } });
    expect(res.statusCode).toBe(201);
  }
});
afterAll(async () => {
  await s?.close();
});

function upload(model: string, body: Buffer | string, query = '', headers: Record<string, string> = {}) {
  return s.app.inject({
    method: 'POST',
    url: `/v1/projects/default/models/${model}/versions${query}`,
    headers: { ...s.admin, 'content-type': 'application/octet-stream', ...headers },
    payload: body,
  });
}

function download(sha: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  return s.app.inject({ method, url: `/v1/artifacts/${sha}`, headers: { 'x-ferry-app-key': s.appKey, ...headers } });
}

async function versionsOf(model: string): Promise<{ version: number }[]> {
  const res = await s.app.inject({ url: `/v1/projects/default/models/${model}/versions`, headers: s.admin });
  return res.json().versions;
}

async function storedBlobs(): Promise<string[]> {
  const all: string[] = [];
  for await (const b of s.app.blobs.list()) all.push(b.sha256);
  return all;
}

async function spooledFiles(): Promise<string[]> {
  return readdir(s.app.uploadDir);
}

describe('uploading an ONNX model', () => {
  it('creates version 1 with its IO signature, opset and parameter count', async () => {
    const res = await upload('digits', mlp, '?notes=first%20cut');
    expect(res.statusCode).toBe(201);
    const v = res.json();
    expect(v).toMatchObject({ version: 1, model: 'digits', format: 'onnx', sha256: mlpSha, size: mlp.length, state: 'active', notes: 'first cut' });
    expect(v.io.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 784] }]);
    expect(v.io.outputs).toEqual([{ name: 'logits', type: 'float32', shape: ['N', 10] }]);
    expect(v.onnx.parameterCount).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(v.onnx.opsets).toContainEqual({ domain: '', version: 13 });
    expect(v.variants[0]).toEqual(
      expect.objectContaining({ kind: 'original', status: 'ready', sha256: mlpSha, size: mlp.length, requires: expect.objectContaining({ format: 'onnx' }) }),
    );
    // The derived variants are queued with the upload and built in the background.
    expect(v.variants.slice(1).map((x: { kind: string; status: string }) => `${x.kind}:${x.status}`)).toEqual(['fp16:pending', 'int8:pending', 'pruned-50:pending']);
    const model = await s.app.inject({ url: '/v1/projects/default/models/digits', headers: s.admin });
    expect(model.json().latestVersion).toBe(1);
  });

  it('serves the bytes back identical, with a strong ETag and immutable caching', async () => {
    const res = await download(mlpSha);
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(mlp)).toBe(true);
    expect(res.headers.etag).toBe(`"${mlpSha}"`);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-length']).toBe(String(mlp.length));
    expect(res.headers['accept-ranges']).toBe('bytes');
    const head = await download(mlpSha, {}, 'HEAD');
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(mlp.length));
  });

  it('answers If-None-Match with 304 and Range with 206', async () => {
    const cached = await download(mlpSha, { 'if-none-match': `"${mlpSha}"` });
    expect(cached.statusCode).toBe(304);
    expect(cached.rawPayload.length).toBe(0);
    const part = await download(mlpSha, { range: 'bytes=100-1099' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1099/${mlp.length}`);
    expect(part.rawPayload.equals(mlp.subarray(100, 1100))).toBe(true);
    const tail = await download(mlpSha, { range: 'bytes=-10' });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload.equals(mlp.subarray(mlp.length - 10))).toBe(true);
    const open = await download(mlpSha, { range: `bytes=${mlp.length - 5}-` });
    expect(open.rawPayload.equals(mlp.subarray(mlp.length - 5))).toBe(true);
  });

  it('answers a Range beyond the end with 416 and the size', async () => {
    const res = await download(mlpSha, { range: `bytes=${mlp.length}-${mlp.length + 10}` });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${mlp.length}`);
    expect(res.json().error.code).toBe('range_not_satisfiable');
  });

  it('refuses artifacts to unknown, revoked or other projects’ app keys', async () => {
    const none = await s.app.inject({ url: `/v1/artifacts/${mlpSha}` });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('invalid_app_key');
    const unknown = await download(mlpSha, { 'x-ferry-app-key': 'fry_ak_unknown' });
    expect(unknown.statusCode).toBe(401);

    await s.app.inject({ method: 'POST', url: '/v1/projects', headers: s.admin, payload: { name: 'elsewhere' } });
    const keys = await s.app.inject({ url: '/v1/projects/elsewhere/app-keys', headers: s.admin });
    const otherKey = keys.json().appKeys[0];
    const other = await download(mlpSha, { 'x-ferry-app-key': otherKey.key });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('artifact_not_found');

    await s.app.inject({ method: 'DELETE', url: `/v1/projects/elsewhere/app-keys/${otherKey.id}`, headers: s.admin });
    const revoked = await download(mlpSha, { 'x-ferry-app-key': otherKey.key });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.message).toMatch(/revoked/);
  });

  it('numbers versions per model and stores identical bytes once', async () => {
    const before = (await storedBlobs()).length;
    const again = await upload('digits', mlp);
    expect(again.statusCode).toBe(201);
    expect(again.json().version).toBe(2);
    expect(again.json().sha256).toBe(mlpSha);
    expect((await storedBlobs()).length).toBe(before);
    expect((await versionsOf('digits')).map((v) => v.version)).toEqual([2, 1]);
  });

  it('stores other formats as opaque artifacts', async () => {
    const bytes = Buffer.from(seededBytes(3, 5000));
    const res = await upload('blobs', bytes, '?format=tflite');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ format: 'tflite', io: null, onnx: null });
    const back = await download(res.json().sha256);
    expect(back.rawPayload.equals(bytes)).toBe(true);
  });

  it('archives a version and shows it archived', async () => {
    const res = await s.app.inject({ method: 'DELETE', url: '/v1/projects/default/models/digits/versions/1', headers: s.admin });
    expect(res.statusCode).toBe(200);
    expect(res.json().state).toBe('archived');
    const missing = await s.app.inject({ method: 'DELETE', url: '/v1/projects/default/models/digits/versions/99', headers: s.admin });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('version_not_found');
  });
});

describe('bad uploads leave nothing behind', () => {
  const cases: [string, () => ReturnType<typeof upload>, number, string][] = [
    ['an empty body', () => upload('bad-input', Buffer.alloc(0)), 400, 'empty_body'],
    ['a JSON content type', () => upload('bad-input', '{"a":1}', '', { 'content-type': 'application/json' }), 415, 'unsupported_media_type'],
    ['a text content type', () => upload('bad-input', 'hello', '', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
    ['an oversize body', () => upload('bad-input', Buffer.alloc(MAX + 1, 1), '?format=other'), 413, 'payload_too_large'],
    ['random bytes as ONNX', () => upload('bad-input', Buffer.from(seededBytes(11, 4096))), 422, 'invalid_onnx'],
    ['a truncated ONNX model', () => upload('bad-input', mlp.subarray(0, Math.floor(mlp.length / 2))), 422, 'invalid_onnx'],
    ['a model with external data', () => upload('bad-input', Buffer.from(buildModelWithExternalData())), 422, 'external_data'],
    ['an unknown format', () => upload('bad-input', mlp, '?format=safetensors'), 400, 'invalid_format'],
    ['an unknown model', () => upload('no-such-model', mlp), 404, 'model_not_found'],
  ];

  it.each(cases)('refuses %s', async (_name, send, status, code) => {
    const blobsBefore = await storedBlobs();
    const res = await send();
    expect(res.statusCode).toBe(status);
    expect(res.json().error.code).toBe(code);
    expect(await versionsOf('bad-input')).toEqual([]);
    expect(await storedBlobs()).toEqual(blobsBefore);
    expect(await spooledFiles()).toEqual([]);
  });

  it('refuses an upload by a viewer with 403', async () => {
    const token = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/tokens',
      headers: s.admin,
      payload: { name: 'ro', role: 'viewer' },
    });
    const res = await upload('bad-input', mlp, '', { authorization: `Bearer ${token.json().secret}` });
    expect(res.statusCode).toBe(403);
    expect(await versionsOf('bad-input')).toEqual([]);
  });

  it('refuses a chunked upload that grows past the limit, over real HTTP', async () => {
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/v1/projects/default/models/bad-input/versions?format=other',
          headers: { ...s.admin, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 3);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX + chunk.length) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(await versionsOf('bad-input')).toEqual([]);
    expect(await spooledFiles()).toEqual([]);
  });

  it('cleans up after a client that disconnects mid-upload', async () => {
    if (!s.app.server.listening) await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as AddressInfo;
    const blobsBefore = await storedBlobs();
    const req = httpRequest({
      port,
      host: '127.0.0.1',
      method: 'POST',
      path: '/v1/projects/default/models/cut-short/versions?format=other',
      headers: { ...s.admin, 'content-type': 'application/octet-stream', 'content-length': String(MAX - 1) },
    });
    req.on('error', () => {});
    req.write(Buffer.alloc(512 * 1024, 9));
    // Wait until the server is spooling, then drop the connection.
    for (let i = 0; i < 100 && (await spooledFiles()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await spooledFiles()).length).toBe(1);
    req.destroy();
    for (let i = 0; i < 100 && (await spooledFiles()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await spooledFiles()).toEqual([]);
    expect(await versionsOf('cut-short')).toEqual([]);
    expect(await storedBlobs()).toEqual(blobsBefore);
    // The model still takes a proper upload afterwards.
    const ok = await upload('cut-short', mlp);
    expect(ok.statusCode).toBe(201);
    expect(ok.json().version).toBe(1);
  });
});
