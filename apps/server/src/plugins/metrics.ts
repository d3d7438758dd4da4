import type { FastifyInstance, onResponseHookHandler } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

/**
 * Prometheus metrics at GET /metrics: request counts and latencies per route, and process
 * metrics. Returns the request metrics, for requests answered outside fastify's routing.
 */
export function registerMetrics(app: FastifyInstance): RequestMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  const http = new RequestMetrics();

  // Every route gets its own onResponse hook, bound to its series: nothing to look up per request.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    let record: onResponseHookHandler;
    if (methods.length === 1) {
      const series = http.of(methods[0]!, route.url);
      record = (_request, reply, done) => {
        series.observe(reply.statusCode, reply.elapsedTime / 1000);
        done();
      };
    } else {
      const byMethod = new Map(methods.map((m) => [m, http.of(m, route.url)]));
      record = (request, reply, done) => {
        byMethod.get(request.method)?.observe(reply.statusCode, reply.elapsedTime / 1000);
        done();
      };
    }
    const own = route.onResponse;
    route.onResponse = own === undefined ? [record] : [...(Array.isArray(own) ? own : [own]), record];
  });
  // Requests that matched no route (their 404s, and errors raised before routing).
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) http.of(request.method, 'unmatched').observe(reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return `${http.exposition()}\n${await registry.metrics()}`;
  });
  return http;
}
