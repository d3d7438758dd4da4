import type { JWK } from 'jose';
import { cachedIsCurrent, type ManifestCandidate, type ManifestPayload, type ResolveRequest, type TelemetryBatch } from '@ferry/protocol';
import { portableSha256 } from '../core/hash/sha256.js';
import { testCandidate, testManifest, type TestSigner } from './manifest-signer.js';

/** Faults the fake server injects into artifact downloads. */
export interface ArtifactFaults {
  /** Close the body with an error after this many bytes, for the next `times` requests. */
  cutAfter?: { bytes: number; times: number };
  /** Answer this status for the next `times` requests. */
  status?: { code: number; times: number; retryAfter?: string };
  /** Serve these bytes instead of the stored ones. */
  replaceWith?: Uint8Array;
  /** Ignore Range headers (answer 200 with everything). */
  ignoreRange?: boolean;
  /** Never send a body byte (a stalled connection) for the next `times` requests. */
  stall?: { times: number };
  /** Stop sending after `bytes` (of every answer) until `until` settles: a download held in flight. */
  hold?: { bytes: number; until: Promise<unknown> };
}

export function sha256Of(bytes: Uint8Array): string {
  const h = portableSha256();
  h.update(bytes);
  return h.digestHex();
}

interface Published {
  payload: ManifestPayload;
  jws: string;
}

/**
 * An in-process Ferry server as a `fetch` function: resolve (with 304), signed manifests,
 * artifacts (Range, ETag, If-Range), keys and telemetry, plus fault injection. For the core's
 * unit tests; integration tests use the real server.
 */
export class FakeFerryServer {
  readonly origin = 'http://ferry.test';
  readonly artifacts = new Map<string, Uint8Array>();
  readonly published = new Map<string, Published>();
  /** Every request, with the status it was answered with (none while unanswered, or when it failed). */
  readonly requests: { method: string; path: string; headers: Record<string, string>; status?: number }[] = [];
  readonly resolveBodies: ResolveRequest[] = [];
  readonly telemetry: TelemetryBatch[] = [];
  faults: ArtifactFaults = {};
  /** `/v1/keys` answers once this settles (a slow key server). */
  keysHeld: Promise<unknown> = Promise.resolve();
  /** Public keys served at `/v1/keys` besides the signer's: a rotation's new key. */
  readonly extraKeys: JWK[] = [];
  /** Manifests (JWS) by device id, served instead of the published one: a staged rollout. */
  readonly forDevice = new Map<string, string>();
  /** Awaited before each resolve is answered (a slow answer to one of several requests). */
  beforeResolve: ((body: ResolveRequest) => Promise<unknown> | undefined) | null = null;
  /** Serve this JWS to the next resolve instead of the published one. */
  nextManifest: string | null = null;
  offline = false;
  telemetryStatus = 202;
  /**
   * List in each manifest only the candidates the device can run (its backends and features), in
   * the published order, signed for it, as Ferry's ranking does. Off: every device gets the
   * published manifest as it is.
   */
  rankForDevice = false;
  private readonly ranked = new Map<string, string>();
  private releases = new Map<string, number>();

  constructor(
    readonly signer: TestSigner,
    readonly appKey = 'test-app-key',
  ) {}

  /** Publishes `bytes` as the next version of `model` (release + 1). */
  async publish(
    model: string,
    bytes: Uint8Array | Uint8Array[],
    overrides: Partial<ManifestPayload> = {},
    candidate: (c: ManifestCandidate, i: number) => ManifestCandidate = (c) => c,
  ): Promise<Published> {
    const list = Array.isArray(bytes) ? bytes : [bytes];
    const candidates = list.map((b, i) => {
      const sha = sha256Of(b);
      this.artifacts.set(sha, b);
      return candidate(testCandidate(sha, b.byteLength), i);
    });
    const release = (this.releases.get(model) ?? 0) + 1;
    this.releases.set(model, release);
    const previous = this.published.get(model);
    const payload = testManifest({ model, candidates, release, version: (previous?.payload.version ?? 0) + 1, aud: this.appKey, ...overrides });
    const jws = await this.signer.sign(payload);
    const published = { payload, jws };
    this.published.set(model, published);
    return published;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const entry: (typeof this.requests)[number] = { method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers) };
    this.requests.push(entry);
    const response = await this.answer(request, url);
    entry.status = response.status;
    return response;
  };

  private async answer(request: Request, url: URL): Promise<Response> {
    if (this.offline) throw new TypeError('fetch failed');
    if (url.origin !== this.origin) return json(404, { error: { code: 'not_found', message: 'unknown host' } });
    if (url.pathname === '/v1/keys') {
      // Held, as a slow server would be; a request aborted meanwhile fails as fetch's do.
      await new Promise((resolve, reject) => {
        request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
        void this.keysHeld.then(resolve);
      });
      return json(200, { keys: [this.signer.publicJwk, ...this.extraKeys] });
    }
    if (request.headers.get('x-ferry-app-key') !== this.appKey) return json(401, { error: { code: 'invalid_app_key', message: 'unknown app key' } });
    if (url.pathname === '/v1/resolve' && request.method === 'POST') {
      const body = (await request.json()) as ResolveRequest;
      await this.beforeResolve?.(body);
      return this.resolve(body);
    }
    if (url.pathname === '/v1/telemetry' && request.method === 'POST') {
      const batch = (await request.json()) as TelemetryBatch;
      if (this.telemetryStatus >= 300) return json(this.telemetryStatus, { error: { code: 'internal_error', message: 'down' } });
      this.telemetry.push(batch);
      return json(202, { accepted: batch.events.length, duplicates: 0 });
    }
    const artifact = /^\/v1\/artifacts\/([0-9a-f]{64})$/.exec(url.pathname);
    if (artifact) return this.artifact(artifact[1]!, request);
    return json(404, { error: { code: 'not_found', message: 'no route' } });
  }

  private async resolve(body: ResolveRequest): Promise<Response> {
    this.resolveBodies.push(body);
    if (this.nextManifest) {
      const manifest = this.nextManifest;
      this.nextManifest = null;
      return json(200, { manifest });
    }
    const rollout = this.forDevice.get(body.device.id);
    if (rollout) return json(200, { manifest: rollout });
    const published = this.published.get(body.model);
    if (!published) return json(404, { error: { code: 'model_not_found', message: `no model ${body.model}` } });
    // As Ferry's: 304 while the cached model is still what the device would run of the release and
    // version it serves (of the candidates on backends the device offers, which Ferry would rank).
    const p = published.payload;
    const cached = body.cached;
    const caps = body.device.capabilities;
    const hasFeatures = (c: ManifestCandidate) => (c.requires.features ?? []).every((f) => (caps.features ?? []).includes(f));
    const offered = p.candidates.filter((c) => caps.backends.includes(c.backend) && (!this.rankForDevice || hasFeatures(c)));
    if (cached && cached.release === p.release && cached.version === p.version && cachedIsCurrent(offered, cached)) {
      return new Response(null, { status: 304 });
    }
    if (!this.rankForDevice || offered.length === p.candidates.length) return json(200, { manifest: published.jws });
    // Signed once per list (Ferry reuses its signed answers too).
    const key = `${published.jws}|${offered.map((c) => `${c.variant}/${c.backend}`).join(',')}`;
    let manifest = this.ranked.get(key);
    if (!manifest) {
      manifest = await this.signer.sign({ ...p, candidates: offered });
      this.ranked.set(key, manifest);
    }
    return json(200, { manifest });
  }

  private artifact(sha: string, request: Request): Response {
    const stored = this.artifacts.get(sha);
    if (!stored) return json(404, { error: { code: 'artifact_not_found', message: 'no such artifact' } });
    const f = this.faults;
    if (f.status && f.status.times > 0) {
      f.status.times--;
      const h: Record<string, string> = f.status.retryAfter ? { 'retry-after': f.status.retryAfter } : {};
      return json(f.status.code, { error: { code: 'storage_unavailable', message: 'injected' } }, h);
    }
    const bytes = f.replaceWith ?? stored;
    const etag = `"${sha}"`;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(request.headers.get('range') ?? '');
    const ifRange = request.headers.get('if-range');
    if (range && !f.ignoreRange && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      status = 206;
    }
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { etag, 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength), 'accept-ranges': 'bytes' };
    if (status === 206) headers['content-range'] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
    if (f.stall && f.stall.times > 0) {
      f.stall.times--;
      // Byte streams, as fetch bodies are in browsers and Node.
      const stream = new ReadableStream({
        type: 'bytes',
        pull: (controller) =>
          new Promise<void>((resolve) => {
            request.signal.addEventListener('abort', () => {
              controller.error(request.signal.reason);
              resolve();
            });
          }),
      });
      return new Response(stream, { status, headers });
    }
    let cutAt = Infinity;
    if (f.cutAfter && f.cutAfter.times > 0) {
      f.cutAfter.times--;
      cutAt = f.cutAfter.bytes;
    }
    const CHUNK = 1024;
    let offset = 0;
    const hold = f.hold;
    const stream = new ReadableStream({
      type: 'bytes',
      async pull(controller) {
        if (hold && offset >= hold.bytes) await hold.until;
        if (request.signal.aborted) {
          controller.error(request.signal.reason);
          return;
        }
        if (offset >= cutAt) {
          controller.error(new TypeError('terminated: other side closed'));
          return;
        }
        if (offset >= body.byteLength) {
          controller.close();
          // A BYOB read waiting for this pull ends only once answered with 0 bytes (fetch bodies do this).
          controller.byobRequest?.respond(0);
          return;
        }
        const end = Math.min(body.byteLength, offset + CHUNK, cutAt);
        controller.enqueue(body.slice(offset, end));
        offset = end;
      },
    });
    return new Response(stream, { status, headers });
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
