import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy can do to traffic: cut artifact downloads, rewrite resolve answers, append bytes. */
export interface ProxyFaults {
  /** Destroy the connection after this many body bytes of the next `times` artifact answers. */
  cutArtifactAfter?: { bytes: number; times: number };
  /** Append these bytes to artifact answers (sent chunked, without Content-Length). */
  appendToArtifact?: Uint8Array;
  /** Replace the JSON of a resolve answer (a man in the middle with old or foreign manifests). */
  rewriteResolve?: (answer: { status: number; body: string }, request: { model: string }) => { status: number; body: string } | null;
}

/** A request as the proxy saw it. */
export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status?: number;
}

/**
 * A small reverse proxy in front of a real Ferry server (or the S3 bucket it redirects to): what a
 * flaky network or a man in the middle looks like to the SDK. Everything else passes through unchanged.
 */
export class FaultyProxy {
  readonly requests: ProxiedRequest[] = [];
  faults: ProxyFaults = {};
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  url = '';

  /** `isArtifact`: which paths are artifact downloads (Ferry's `/v1/artifacts/…` by default; a bucket's objects in front of S3). */
  constructor(
    private readonly upstream: string,
    private readonly options: { isArtifact?: (path: string) => boolean } = {},
  ) {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Stops accepting and drops every open connection (the network goes away). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    this.requests.push(seen);
    const target = new URL(req.url ?? '/', this.upstream);
    const headers = { ...req.headers, host: target.host };
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpRequest(target, { method: req.method, headers }, resolve);
      r.on('error', reject);
      r.end(body);
    });
    seen.status = upstream.statusCode;
    const isArtifact = this.options.isArtifact ? this.options.isArtifact(target.pathname) : target.pathname.startsWith('/v1/artifacts/');
    const f = this.faults;

    if (target.pathname === '/v1/resolve' && f.rewriteResolve) {
      const answer = { status: upstream.statusCode ?? 500, body: Buffer.concat(await collect(upstream)).toString('utf8') };
      const model = (JSON.parse(body.toString('utf8') || '{}') as { model?: string }).model ?? '';
      const out = f.rewriteResolve(answer, { model }) ?? answer;
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(out.body);
      return;
    }

    if (isArtifact && f.appendToArtifact && upstream.statusCode === 200) {
      const { 'content-length': _drop, ...rest } = upstream.headers;
      res.writeHead(200, rest);
      for await (const c of upstream) res.write(c);
      res.end(Buffer.from(f.appendToArtifact));
      return;
    }

    res.writeHead(upstream.statusCode ?? 502, upstream.headers);
    let cutAt = Infinity;
    if (isArtifact && f.cutArtifactAfter && f.cutArtifactAfter.times > 0 && (upstream.statusCode === 200 || upstream.statusCode === 206)) {
      f.cutArtifactAfter.times--;
      cutAt = f.cutArtifactAfter.bytes;
    }
    let sent = 0;
    for await (const chunk of upstream) {
      const c = chunk as Buffer;
      if (sent + c.length >= cutAt) {
        res.write(c.subarray(0, cutAt - sent));
        // Let the partial body reach the client, then drop the connection mid-answer.
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        upstream.destroy();
        return;
      }
      res.write(c);
      sent += c.length;
    }
    res.end();
  }
}

async function collect(stream: IncomingMessage): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return out;
}
