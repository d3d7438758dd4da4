import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { ValidateFunction } from 'ajv';
import type { FastifyBaseLogger, FastifyError } from 'fastify';
import type { ResolveRequest } from '@ferry/protocol';
import type { AppKeyCache } from '../../delivery/app-key-cache.js';
import type { ResolveOutcome, ResolveService } from '../../delivery/resolve-service.js';
import { DEVICE_CORS_HEADERS } from '../../plugins/device-cors.js';
import type { DeviceJsonParser } from '../../plugins/device-json.js';
import { errorAnswer } from '../../plugins/error-handler.js';
import { requestIdOf } from '../../plugins/request-id.js';
import { requestLogger } from '../../plugins/request-logger.js';
import type { RouteSeries } from '../../plugins/request-metrics.js';

/** What the lane shares with the fastify route: the same parser, validator, services and metrics. */
export interface ResolveLaneDeps {
  parse: DeviceJsonParser;
  validate: ValidateFunction;
  appKeys: AppKeyCache;
  resolver: ResolveService;
  series: RouteSeries;
  log: FastifyBaseLogger;
  /** The route's body limit; larger bodies are left to fastify (which answers 413). */
  bodyLimit: number;
}

/** The options fastify hands its `serverFactory`, with its defaults filled in. */
interface FastifyHttpOptions {
  http?: ServerOptions | null;
  keepAliveTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  maxRequestsPerSocket: number;
}

const JSON_UTF8 = 'application/json; charset=utf-8';

/**
 * `POST /v1/resolve` answered straight from Node's HTTP server, before fastify's routing: the
 * device API's hottest call, made by every app start. It takes only the plain case (exactly that
 * path, a JSON content type, a Content-Length within the limit) and hands everything else to
 * fastify's route, which stays the reference (and serves `app.inject`). Both use the same JSON
 * parser, schema validator, app-key cache, resolve service, error format and metrics series, and
 * answer with the same headers (request id, CORS, cache-control). What the lane leaves out is
 * fastify's per-request machinery (request/reply objects, hooks, child logger, serializer):
 * about a quarter of a resolve's CPU. It writes no per-request access-log lines (fastify's
 * "incoming request" / "request completed" at level info); server-side failures are logged with
 * the request id, as everywhere.
 */
export class ResolveFastLane {
  private deps: ResolveLaneDeps | null = null;

  /** Starts taking requests (once the services and the route exist). */
  enable(deps: ResolveLaneDeps): void {
    this.deps = deps;
  }

  /** Stops taking requests: while closing, fastify answers them (and sheds them with 503). */
  disable(): void {
    this.deps = null;
  }

  /**
   * Fastify's `serverFactory`: the HTTP server fastify would make (same timeouts), with the
   * lane in front of fastify's handler.
   */
  serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void, opts: Record<string, unknown>): Server => {
    const options = opts as unknown as FastifyHttpOptions;
    const server = createServer(options.http ?? {}, (req, res) => {
      if (!this.take(req, res)) handler(req, res);
    });
    server.keepAliveTimeout = options.keepAliveTimeout;
    server.requestTimeout = options.requestTimeout;
    server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };

  /** Answers the request and returns true, or returns false without touching it. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    const deps = this.deps;
    if (deps === null || req.url !== '/v1/resolve' || req.method !== 'POST') return false;
    const headers = req.headers;
    const type = headers['content-type'];
    if (type !== 'application/json' && type !== JSON_UTF8) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= deps.bodyLimit) || headers['transfer-encoding'] !== undefined) return false;

    const started = performance.now();
    const id = requestIdOf(req);
    // Chunks kept as bytes and decoded once (a small body is one chunk): no string decoder.
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    req.on('data', (chunk: Buffer) => {
      if (first === undefined) first = chunk;
      else (more ??= []).push(chunk);
    });
    req.on('end', () => {
      const text = first === undefined ? '' : more === undefined ? first.toString() : Buffer.concat([first, ...more]).toString();
      this.answer(deps, req, res, id, text, started);
    });
    return true;
  }

  private answer(deps: ResolveLaneDeps, req: IncomingMessage, res: ServerResponse, id: string, text: string, started: number): void {
    let outcome: ResolveOutcome | Promise<ResolveOutcome>;
    try {
      const body = deps.parse(text);
      if (!deps.validate(body)) {
        throw Object.assign(new Error('body is invalid'), { validation: deps.validate.errors, validationContext: 'body' });
      }
      outcome = deps.resolver.resolveFor(deps.appKeys, req.headers['x-ferry-app-key'], body as ResolveRequest);
    } catch (err) {
      return this.fail(deps, req, res, id, err as Error, started);
    }
    if (!(outcome instanceof Promise)) return this.send(deps, req, res, id, outcome, started);
    outcome.then(
      (o) => this.send(deps, req, res, id, o, started),
      (err: Error) => this.fail(deps, req, res, id, err, started),
    );
  }

  private send(deps: ResolveLaneDeps, req: IncomingMessage, res: ServerResponse, id: string, outcome: ResolveOutcome, started: number): void {
    if (outcome.status === 304) {
      return this.write(deps, req, res, 304, { 'x-request-id': id, 'cache-control': 'no-store' }, undefined, started);
    }
    // The body's bytes were made once, with its signature: written as they are, no encoding per request.
    const headers = { 'x-request-id': id, 'cache-control': 'no-store', 'content-type': JSON_UTF8, 'content-length': outcome.bytes.length };
    this.write(deps, req, res, 200, headers, outcome.bytes, started);
  }

  private fail(deps: ResolveLaneDeps, req: IncomingMessage, res: ServerResponse, id: string, err: Error, started: number): void {
    const answer = errorAnswer(err as FastifyError, id, requestLogger(deps.log, { reqId: id }, {}));
    const body = JSON.stringify(answer.body);
    const headers: OutgoingHttpHeaders = { 'x-request-id': id, 'content-type': JSON_UTF8, 'content-length': Buffer.byteLength(body) };
    this.write(deps, req, res, answer.status, headers, body, started);
  }

  private write(
    deps: ResolveLaneDeps,
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    headers: OutgoingHttpHeaders,
    body: string | Buffer | undefined,
    started: number,
  ): void {
    if (req.headers.origin !== undefined) Object.assign(headers, DEVICE_CORS_HEADERS);
    res.writeHead(status, headers);
    res.end(body);
    deps.series.observe(status, (performance.now() - started) / 1000);
  }
}
