import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../testing/test-server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

async function issueToken(project: string, role: string, name = `${role}-token`) {
  const res = await s.app.inject({
    method: 'POST',
    url: `/v1/projects/${project}/tokens`,
    headers: s.admin,
    payload: { name, role },
  });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; secret: string; role: string };
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('projects', () => {
  it('starts with a default project that has an app key', async () => {
    const res = await s.app.inject({ method: 'GET', url: '/v1/projects', headers: s.admin });
    expect(res.statusCode).toBe(200);
    expect(res.json().projects.map((p: { name: string }) => p.name)).toContain('default');
    const keys = await s.app.inject({ method: 'GET', url: '/v1/projects/default/app-keys', headers: s.admin });
    expect(keys.json().appKeys[0].key).toBe(s.appKey);
  });

  it('creates a project, refuses a duplicate with 409, and a bad name with 400', async () => {
    const created = await s.app.inject({ method: 'POST', url: '/v1/projects', headers: s.admin, payload: { name: 'acme' } });
    expect(created.statusCode).toBe(201);
    expect(created.json().name).toBe('acme');
    const dup = await s.app.inject({ method: 'POST', url: '/v1/projects', headers: s.admin, payload: { name: 'acme' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('project_exists');
    const bad = await s.app.inject({ method: 'POST', url: '/v1/projects', headers: s.admin, payload: { name: '../etc' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');
  });

  it('lets only the bootstrap token create projects', async () => {
    const token = await issueToken('default', 'admin');
    const res = await s.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(token.secret), payload: { name: 'other' } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('forbidden');
  });
});

describe('authentication and roles', () => {
  it('answers 401 without a token, with a malformed or unknown one', async () => {
    const none = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthenticated');
    const malformed = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: { authorization: 'Basic abc' } });
    expect(malformed.statusCode).toBe(401);
    expect(malformed.json().error.code).toBe('invalid_token');
    const unknown = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: bearer('fry_at_nope') });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().error.code).toBe('invalid_token');
  });

  it('refuses a revoked token from the next request on', async () => {
    const token = await issueToken('default', 'viewer', 'soon-revoked');
    const before = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: bearer(token.secret) });
    expect(before.statusCode).toBe(200);
    const revoke = await s.app.inject({ method: 'DELETE', url: `/v1/projects/default/tokens/${token.id}`, headers: s.admin });
    expect(revoke.statusCode).toBe(200);
    expect(revoke.json().revokedAt).not.toBeNull();
    const after = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: bearer(token.secret) });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toMatch(/revoked/);
  });

  it('keeps a token to its own project, without revealing others', async () => {
    await s.app.inject({ method: 'POST', url: '/v1/projects', headers: s.admin, payload: { name: 'scoped' } });
    const token = await issueToken('default', 'admin', 'default-admin');
    const other = await s.app.inject({ method: 'GET', url: '/v1/projects/scoped/models', headers: bearer(token.secret) });
    expect(other.statusCode).toBe(403);
    const missing = await s.app.inject({ method: 'GET', url: '/v1/projects/does-not-exist/models', headers: bearer(token.secret) });
    expect(missing.statusCode).toBe(403);
    const listed = await s.app.inject({ method: 'GET', url: '/v1/projects', headers: bearer(token.secret) });
    expect(listed.json().projects.map((p: { name: string }) => p.name)).toEqual(['default']);
  });

  it('lets a viewer read but not write, and a publisher create models but not tokens', async () => {
    const viewer = await issueToken('default', 'viewer');
    const read = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: bearer(viewer.secret) });
    expect(read.statusCode).toBe(200);
    const write = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models',
      headers: bearer(viewer.secret),
      payload: { name: 'by-viewer' },
    });
    expect(write.statusCode).toBe(403);
    expect(write.json().error.code).toBe('forbidden');

    const publisher = await issueToken('default', 'publisher');
    const model = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models',
      headers: bearer(publisher.secret),
      payload: { name: 'by-publisher' },
    });
    expect(model.statusCode).toBe(201);
    const token = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/tokens',
      headers: bearer(publisher.secret),
      payload: { name: 'x', role: 'admin' },
    });
    expect(token.statusCode).toBe(403);
  });

  it('shows a token secret once and never again', async () => {
    const token = await issueToken('default', 'viewer', 'shown-once');
    expect(token.secret).toMatch(/^fry_at_/);
    const list = await s.app.inject({ method: 'GET', url: '/v1/projects/default/tokens', headers: s.admin });
    expect(list.body).not.toContain(token.secret);
    const listed = list.json().tokens.find((t: { id: string }) => t.id === token.id);
    expect(listed.prefix).toBe(token.secret.slice(0, 12));
  });
});

describe('models', () => {
  it('creates, lists and gets a model with its metadata', async () => {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models',
      headers: s.admin,
      payload: { name: 'digits', task: 'image-classification', labels: ['0', '1'], metadata: { preprocessing: { mean: 0.5 } } },
    });
    expect(res.statusCode).toBe(201);
    const got = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models/digits', headers: s.admin });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ name: 'digits', task: 'image-classification', labels: ['0', '1'], latestVersion: null });
    expect(got.json().metadata).toEqual({ preprocessing: { mean: 0.5 } });
    const list = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models', headers: s.admin });
    expect(list.json().models.map((m: { name: string }) => m.name)).toContain('digits');
  });

  it('refuses a duplicate model with 409 and keeps the first', async () => {
    await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name: 'twice', task: 'first' } });
    const dup = await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name: 'twice', task: 'second' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('model_exists');
    const got = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models/twice', headers: s.admin });
    expect(got.json().task).toBe('first');
  });

  it.each(['', 'UPPER', '-leading-dash', '../../etc/passwd', 'a/b', 'x'.repeat(65), 'sp ace', '%2e%2e'])(
    'refuses the model name %j with 400',
    async (name) => {
      const res = await s.app.inject({ method: 'POST', url: '/v1/projects/default/models', headers: s.admin, payload: { name } });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
      expect(res.json().error.details.field).toBe('body.name');
    },
  );

  it('answers 404 model_not_found for an unknown model and 400 for a traversal in the path', async () => {
    const missing = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models/nope', headers: s.admin });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('model_not_found');
    const traversal = await s.app.inject({ method: 'GET', url: '/v1/projects/default/models/..%2F..%2Fsecrets', headers: s.admin });
    expect(traversal.statusCode).toBe(400);
  });

  it('answers an empty or malformed JSON body with 400', async () => {
    const empty = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models',
      headers: { ...s.admin, 'content-type': 'application/json' },
      payload: '',
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('empty_body');
    const broken = await s.app.inject({
      method: 'POST',
      url: '/v1/projects/default/models',
      headers: { ...s.admin, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('validation_failed');
  });
});

describe('app keys and audit', () => {
  it('issues and revokes app keys, and records every admin action', async () => {
    const created = await s.app.inject({ method: 'POST', url: '/v1/projects/default/app-keys', headers: s.admin, payload: { name: 'ios' } });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(key.key).toMatch(/^fry_ak_/);
    const revoked = await s.app.inject({ method: 'DELETE', url: `/v1/projects/default/app-keys/${key.id}`, headers: s.admin });
    expect(revoked.json().revokedAt).not.toBeNull();
    const unknown = await s.app.inject({ method: 'DELETE', url: '/v1/projects/default/app-keys/ak_nope', headers: s.admin });
    expect(unknown.statusCode).toBe(404);

    const audit = await s.app.inject({ method: 'GET', url: '/v1/projects/default/audit?limit=500', headers: s.admin });
    expect(audit.statusCode).toBe(200);
    const actions = audit.json().events.map((e: { action: string; target: string }) => `${e.action} ${e.target}`);
    expect(actions).toContain(`app_key.create ${key.id}`);
    expect(actions).toContain(`app_key.revoke ${key.id}`);
    expect(actions).toContain('model.create digits');
    expect(audit.json().events[0].requestId).toBeTruthy();
  });

  it('pages through the audit log with a cursor', async () => {
    const first = await s.app.inject({ method: 'GET', url: '/v1/projects/default/audit?limit=2', headers: s.admin });
    const page1 = first.json();
    expect(page1.events).toHaveLength(2);
    expect(page1.next).not.toBeNull();
    const second = await s.app.inject({ method: 'GET', url: `/v1/projects/default/audit?limit=2&before=${page1.next}`, headers: s.admin });
    const ids = second.json().events.map((e: { id: string }) => BigInt(e.id));
    expect(ids.every((id: bigint) => id < BigInt(page1.next))).toBe(true);
  });
});

describe('operations', () => {
  it('answers /healthz, /readyz, /metrics and /docs', async () => {
    expect((await s.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await s.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ database: 'ok', blobStore: 'ok' });
    const metrics = await s.app.inject('/metrics');
    expect(metrics.body).toContain('ferry_http_requests_total{method="GET",route="/healthz",status="200"}');
    const docs = await s.app.inject('/docs/json');
    expect(docs.json().paths['/v1/projects/{project}/models/{model}/versions']).toBeDefined();
  });

  it('counts requests and their latency per route, method and status at /metrics', async () => {
    await s.app.inject({ method: 'HEAD', url: '/healthz' });
    await s.app.inject({ url: '/v1/nope-metrics' });
    await s.app.inject({ method: 'POST', url: '/v1/resolve', headers: { 'x-ferry-app-key': 'fry_ak_unknown' }, payload: { model: 'm', device: {} } });
    const body = (await s.app.inject('/metrics')).body;
    const count = (line: string) => Number(new RegExp(`^${line.replace(/[{}()[\]+.*?^$|\\]/g, '\\$&')} (\\S+)$`, 'm').exec(body)?.[1]);
    expect(count('ferry_http_requests_total{method="HEAD",route="/healthz",status="200"}')).toBe(1);
    expect(count('ferry_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(count('ferry_http_requests_total{method="POST",route="/v1/resolve",status="400"}')).toBe(1);
    expect(count('ferry_http_request_duration_seconds_count{method="POST",route="/v1/resolve"}')).toBe(1);
    expect(count('ferry_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/resolve"}')).toBe(1);
    expect(count('ferry_http_request_duration_seconds_sum{method="POST",route="/v1/resolve"}')).toBeGreaterThan(0);
    expect(body).toContain('# TYPE ferry_http_request_duration_seconds histogram');
    expect(body).toContain('# TYPE ferry_process_cpu_seconds_total counter');
  });

  it('answers unknown routes with a Ferry error body and echoes request ids', async () => {
    const res = await s.app.inject({ url: '/v1/nope', headers: { 'x-request-id': 'req-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: 'not_found', requestId: 'req-123' });
    expect(res.headers['x-request-id']).toBe('req-123');
  });

  it('lets web apps on any origin call the device API, but not the admin API', async () => {
    const preflight = await s.app.inject({
      method: 'OPTIONS',
      url: '/v1/resolve',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-ferry-app-key' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('x-ferry-app-key');
    const keys = await s.app.inject({ url: '/v1/keys', headers: { origin: 'https://app.example' } });
    expect(keys.headers['access-control-allow-origin']).toBe('*');
    const adminCall = await s.app.inject({ url: '/v1/projects', headers: { ...s.admin, origin: 'https://evil.example' } });
    expect(adminCall.headers['access-control-allow-origin']).toBeUndefined();
  });
});
