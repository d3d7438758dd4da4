// Starts the real Ferry server (apps/server) for the SDK's integration tests. The server's test
// helper is loaded by path at run time so that the SDK's typecheck does not compile the server.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface InjectResponse {
  statusCode: number;
  body: string;
  json(): unknown;
}

/** What the SDK tests use of `startTestServer()`'s result. */
export interface ServerUnderTest {
  app: {
    listen(options: { port: number; host: string }): Promise<string>;
    inject(options: { method?: string; url: string; headers?: Record<string, string>; payload?: unknown }): Promise<InjectResponse>;
    db: { prisma: { telemetryEvent: { findMany(args?: unknown): Promise<{ type: string; payload: unknown; deviceId: string }[]> } } };
    blobs: { read(sha256: string): Promise<AsyncIterable<unknown>>; putFile(sha256: string, path: string, size: number): Promise<void> };
  };
  config: { dataDir: string };
  appKey: string;
  admin: { authorization: string };
  close(): Promise<void>;
}

/** A running Ferry server on a loopback port, with admin helpers. */
export interface RealFerry {
  server: ServerUnderTest;
  /** `http://127.0.0.1:<port>` */
  url: string;
  appKey: string;
  appKeyId: string;
  /** The JWKS the server publishes (what an app pins). */
  jwks: { keys: Record<string, unknown>[] };
  createModel(name: string, body?: Record<string, unknown>): Promise<void>;
  /** Uploads a version and publishes it to everyone (rollout with the single stage 100). */
  release(name: string, bytes: Uint8Array): Promise<number>;
  upload(name: string, bytes: Uint8Array): Promise<number>;
  publish(name: string, version: number): Promise<void>;
  attachVariant(name: string, version: number, query: string, bytes: Uint8Array): Promise<void>;
  issueAppKey(name: string): Promise<{ id: string; key: string }>;
  /** Changes one byte of a stored artifact in the server's blob store (local files or S3), as an attacker with storage access would. */
  tamperBlob(sha256: string): Promise<void>;
  close(): Promise<void>;
}

const SERVER_TESTING = ['..', '..', '..', '..', 'apps', 'server', 'src', 'testing'];
const serverTesting = (file: string) => join(dirname(fileURLToPath(import.meta.url)), ...SERVER_TESTING, file);

/** The S3 settings of the server's config (apps/server/src/config.ts). */
export interface S3Settings {
  bucket: string;
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  prefix: string;
}

/**
 * An S3-protocol server (s3rver) on a loopback port with one empty bucket, as the server's tests
 * start it; `cors`: the bucket's CORS configuration (S3's XML).
 */
export async function startS3(options: { cors?: string } = {}): Promise<{ config: S3Settings; stop: () => Promise<void> }> {
  const { startS3Server } = (await import(/* @vite-ignore */ serverTesting('test-env.ts'))) as {
    startS3Server: (options: { cors?: string }) => Promise<{ config: S3Settings; stop: () => Promise<void> }>;
  };
  return startS3Server(options);
}

/**
 * Starts Ferry on fresh storage (PGlite and files, or PostgreSQL and S3 under CI's second run);
 * `config` overrides the server's settings (say, `s3` and `artifactDelivery: 'redirect'`).
 */
export async function startRealFerry(options: { config?: Record<string, unknown> } = {}): Promise<RealFerry> {
  const { startTestServer } = (await import(/* @vite-ignore */ serverTesting('test-server.ts'))) as {
    startTestServer: (options: { config?: Record<string, unknown> }) => Promise<ServerUnderTest>;
  };
  const server = await startTestServer(options);
  const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
  const admin = server.admin;
  const call = async (method: string, path: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await server.app.inject({ method, url: path, headers: { ...admin, ...headers }, ...(payload !== undefined ? { payload } : {}) });
    if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const keys = (await call('GET', '/v1/projects/default/app-keys')) as { appKeys: { id: string; key: string }[] };
  const appKeyId = keys.appKeys.find((k) => k.key === server.appKey)!.id;
  const jwks = (await call('GET', '/v1/keys')) as RealFerry['jwks'];
  const upload = async (name: string, bytes: Uint8Array) =>
    ((await call('POST', `/v1/projects/default/models/${name}/versions`, Buffer.from(bytes), { 'content-type': 'application/octet-stream' })) as { version: number }).version;
  const publish = async (name: string, version: number) => {
    await call('POST', `/v1/projects/default/models/${name}/rollouts`, { version, stages: [100] });
  };
  return {
    server,
    url,
    appKey: server.appKey,
    appKeyId,
    jwks,
    createModel: async (name, body = {}) => void (await call('POST', '/v1/projects/default/models', { name, ...body })),
    upload,
    publish,
    release: async (name, bytes) => {
      const version = await upload(name, bytes);
      await publish(name, version);
      return version;
    },
    attachVariant: async (name, version, query, bytes) =>
      void (await call('POST', `/v1/projects/default/models/${name}/versions/${version}/variants?${query}`, Buffer.from(bytes), {
        'content-type': 'application/octet-stream',
      })),
    issueAppKey: async (name) => (await call('POST', '/v1/projects/default/app-keys', { name })) as { id: string; key: string },
    tamperBlob: async (sha) => {
      const chunks: Buffer[] = [];
      for await (const c of await server.app.blobs.read(sha)) chunks.push(c as Buffer);
      const bytes = Buffer.concat(chunks);
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
      const file = join(server.config.dataDir, `tampered-${sha}`);
      await writeFile(file, bytes);
      await server.app.blobs.putFile(sha, file, bytes.length);
    },
    close: () => server.close(),
  };
}
