import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import S3rver from 's3rver';
import type { S3Config } from '../config.js';

/**
 * Where the server tests run. By default: PGlite and local files, as `npm start` does.
 * With FERRY_TEST_POSTGRES_URL (set by .ci/run): a fresh PostgreSQL database per test file
 * and an S3-protocol server (s3rver) started by the test, as production runs.
 */
export const TEST_POSTGRES_URL = process.env.FERRY_TEST_POSTGRES_URL?.trim() || null;
export const testMode: 'embedded' | 'production' = TEST_POSTGRES_URL ? 'production' : 'embedded';

export async function tempDir(prefix = 'ferry-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A database of its own on the test PostgreSQL server, dropped by `drop()`. */
export async function createTestDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ferry_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * An S3-protocol server on a loopback port with one empty bucket; `cors`: the bucket's CORS
 * configuration (S3's XML), for browsers that download from it.
 */
export async function startS3Server(options: { cors?: string } = {}): Promise<{ config: S3Config; stop: () => Promise<void> }> {
  const dir = await tempDir('ferry-s3-');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir.path,
    silent: true,
    configureBuckets: [{ name: 'ferry', configs: options.cors ? [options.cors] : [] }],
  });
  const address = await server.run();
  // s3rver accepts any credentials; the SDK still wants some.
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  return {
    config: {
      bucket: 'ferry',
      endpoint: `http://127.0.0.1:${address.port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      prefix: '',
    },
    stop: async () => {
      await server.close();
      await dir.remove();
    },
  };
}
