import { buildApp, type BuildOptions, type FerryApp } from '../app.js';
import type { Config } from '../config.js';
import { createTestDatabase, startS3Server, tempDir, TEST_POSTGRES_URL } from './test-env.js';

export const TEST_ADMIN_TOKEN = 'test-bootstrap-admin-token-0123456789';

export interface TestServer {
  app: FerryApp;
  config: Config;
  /** The `default` project's app key. */
  appKey: string;
  /** `Authorization` header of the bootstrap admin token. */
  admin: { authorization: string };
  close: () => Promise<void>;
}

export interface TestServerOptions {
  config?: Partial<Config>;
  /** Fastify's logger option (default: no logger). */
  logger?: BuildOptions['logger'];
  /** Keep using this data dir (and database) instead of fresh ones: for restart tests. */
  reuse?: { dataDir: string; databaseUrl: string | null; s3: Config['s3'] };
}

/**
 * Builds a Ferry app on fresh storage for one test file: PGlite + files by default,
 * PostgreSQL + S3 when FERRY_TEST_POSTGRES_URL is set. `close()` removes everything.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const cleanups: (() => Promise<void>)[] = [];
  let dataDir: string;
  let databaseUrl: string | null = null;
  let s3: Config['s3'] = null;
  if (options.reuse) {
    ({ dataDir, databaseUrl, s3 } = options.reuse);
  } else {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    dataDir = dir.path;
    if (TEST_POSTGRES_URL) {
      const db = await createTestDatabase(TEST_POSTGRES_URL);
      cleanups.push(db.drop);
      databaseUrl = db.url;
      const s3server = await startS3Server();
      cleanups.push(s3server.stop);
      s3 = s3server.config;
    }
  }
  const config: Config = {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    databaseUrl,
    s3,
    publicUrl: null,
    maxUploadBytes: 64 * 1024 * 1024,
    adminToken: TEST_ADMIN_TOKEN,
    artifactDelivery: 'stream',
    logLevel: 'silent',
    // Tests run jobs explicitly (app.jobRunner.runOnce()) so that background work never races their assertions.
    jobConcurrency: 0,
    jobLeaseMs: 30_000,
    seedDemo: false,
    ...options.config,
  };
  const app = await buildApp({ config, logger: options.logger ?? false });
  return {
    app,
    config,
    appKey: app.bootstrapInfo.defaultAppKey,
    admin: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    close: async () => {
      await app.close();
      for (const fn of cleanups.reverse()) await fn();
    },
  };
}

/** A pino log line as the tests read it. */
export interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  err?: { message: string };
}

/** A logger option for {@link startTestServer} that keeps every line it writes, parsed, in `lines`. */
export function capturedLog(level: string): { lines: LogLine[]; logger: { level: string; stream: { write: (line: string) => void } } } {
  const lines: LogLine[] = [];
  return { lines, logger: { level, stream: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } } };
}
