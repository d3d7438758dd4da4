#!/usr/bin/env node
// Serves the built example (dist/) and forwards the device API (/v1/…, /.well-known/…) to a
// Ferry server, so that page and API share one origin (no CORS needed).
//   node examples/web/serve.mjs [--port 5173] [--ferry http://127.0.0.1:8080] [--dir examples/web/dist]
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/**
 * Starts the example server. Returns its URL and a `close` that also drops open connections
 * (what "the network went away" looks like to the page).
 */
export async function serveExample({ dir = join(here, 'dist'), ferry = 'http://127.0.0.1:8080', port = 0, host = '127.0.0.1' } = {}) {
  const root = resolve(dir);
  const sockets = new Set();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/.well-known/')) {
      const target = new URL(req.url ?? '/', ferry);
      const upstream = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'storage_unavailable', message: 'the Ferry server is unreachable' } }));
      });
      req.pipe(upstream);
      return;
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    if (path !== root && !path.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      // Cross-origin isolation lets ONNX Runtime use wasm threads.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    createReadStream(path).pipe(res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((ok) => server.listen(port, host, ok));
  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const { url } = await serveExample({ dir: arg('dir', join(here, 'dist')), ferry: arg('ferry', 'http://127.0.0.1:8080'), port: Number(arg('port', '5173')) });
  console.log(`example at ${url} (device API forwarded to ${arg('ferry', 'http://127.0.0.1:8080')})`);
}
