import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from '@ferry/compress/testing';
import { createTestDatabase, startS3Server, tempDir, TEST_POSTGRES_URL } from '../testing/test-env.js';

const serverDir = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'crash-test-admin-token-0123456789';
const cleanups: (() => Promise<void>)[] = [];
const env: Record<string, string> = {};
let dataDir: string;

interface Running {
  child: ChildProcess;
  url: string;
}

/** Starts Ferry as a real process, as `npm start` would, and waits until it listens. */
async function startServer(extraEnv: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, ['--conditions=@ferry/source', '--import', 'tsx', 'src/main.ts'], {
    cwd: serverDir,
    env: {
      ...process.env,
      ...env,
      PORT: '0',
      HOST: '127.0.0.1',
      FERRY_DATA_DIR: dataDir,
      FERRY_ADMIN_TOKEN: TOKEN,
      LOG_LEVEL: 'warn',
      FERRY_JOB_CONCURRENCY: '0',
      FERRY_DEMO: 'false',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, url };
}

async function kill(r: Running, signal: NodeJS.Signals): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill(signal);
  await exited;
}

const admin = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  dataDir = dir.path;
  if (TEST_POSTGRES_URL) {
    const db = await createTestDatabase(TEST_POSTGRES_URL);
    cleanups.push(db.drop);
    const s3 = await startS3Server();
    cleanups.push(s3.stop);
    Object.assign(env, {
      DATABASE_URL: db.url,
      FERRY_S3_BUCKET: s3.config.bucket,
      FERRY_S3_ENDPOINT: s3.config.endpoint!,
      FERRY_S3_FORCE_PATH_STYLE: 'true',
    });
  }
});
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

describe('a server killed in the middle of an upload', () => {
  it('restarts cleanly with no half-created version and no leftover spool', async () => {
    const first = await startServer();
    try {
      const created = await fetch(`${first.url}/v1/projects/default/models`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'interrupted' }),
      });
      expect(created.status).toBe(201);

      const spool = join(dataDir, 'tmp', 'uploads');
      const req = httpRequest(`${first.url}/v1/projects/default/models/interrupted/versions?format=other`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 * 1024) },
      });
      req.on('error', () => {});
      req.write(Buffer.alloc(4 * 1024 * 1024, 1));
      let spooled = 0;
      for (let i = 0; i < 200 && spooled === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const files = await readdir(spool);
        if (files[0]) spooled = (await stat(join(spool, files[0]))).size;
      }
      expect(spooled).toBeGreaterThan(0);
      await kill(first, 'SIGKILL');
      req.destroy();
    } finally {
      await kill(first, 'SIGKILL');
    }

    const second = await startServer();
    try {
      expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
      const versions = await fetch(`${second.url}/v1/projects/default/models/interrupted/versions`, { headers: admin });
      expect((await versions.json()).versions).toEqual([]);
      expect(await readdir(join(dataDir, 'tmp', 'uploads'))).toEqual([]);

      const upload = await fetch(`${second.url}/v1/projects/default/models/interrupted/versions`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/octet-stream' },
        body: Buffer.from(buildMlp({ inputSize: 16, hidden: [8], outputs: 4 })),
      });
      expect(upload.status).toBe(201);
      expect((await upload.json()).version).toBe(1);
    } finally {
      await kill(second, 'SIGTERM');
    }
  });
});

interface Job {
  model: string;
  status: string;
  attempts: number;
  type: string;
}

describe('a server killed in the middle of a variant build', () => {
  it('leaves the job to be picked up again after a restart, and it completes', async () => {
    const jobsEnv = { FERRY_JOB_CONCURRENCY: '1', FERRY_JOB_LEASE_SECONDS: '2' };
    const first = await startServer(jobsEnv);
    const jobs = async (url: string) =>
      ((await (await fetch(`${url}/v1/projects/default/jobs`, { headers: admin })).json()).jobs as Job[]).filter((j) => j.model === 'compressing');
    try {
      await fetch(`${first.url}/v1/projects/default/models`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'compressing', variantSettings: { kinds: ['int8'] } }),
      });
      const upload = await fetch(`${first.url}/v1/projects/default/models/compressing/versions`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/octet-stream' },
        body: Buffer.from(buildMlp({ inputSize: 784, hidden: [512], outputs: 10, seed: 3 })),
      });
      expect(upload.status).toBe(201);
      let running = false;
      for (let i = 0; i < 400 && !running; i++) {
        running = (await jobs(first.url)).some((j) => j.status === 'running');
        if (!running) await new Promise((r) => setTimeout(r, 25));
      }
      expect(running).toBe(true);
      await kill(first, 'SIGKILL');
    } finally {
      await kill(first, 'SIGKILL');
    }

    const second = await startServer(jobsEnv);
    try {
      let all: Job[] = [];
      for (let i = 0; i < 240; i++) {
        all = await jobs(second.url);
        if (all.length && all.every((j) => j.status === 'succeeded' || j.status === 'failed')) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(all.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
      expect(Math.max(...all.map((j) => j.attempts))).toBe(2);
      const version = await (await fetch(`${second.url}/v1/projects/default/models/compressing/versions/1`, { headers: admin })).json();
      const int8 = version.variants.find((v: { kind: string }) => v.kind === 'int8');
      expect(['ready', 'rejected']).toContain(int8.status);
      expect(int8.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await kill(second, 'SIGTERM');
    }
  });
});
