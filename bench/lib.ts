/**
 * Shared helpers for the benchmarks: a Ferry server in a child process, a byte generator,
 * RSS sampling from /proc, and a tiny HTTP client. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MiB = 1024 * 1024;
export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`);
  return n;
}

/** The `q` quantile (0–1) of `values`, interpolated between neighbours. */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo);
}

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

export const fmt = (n: number, digits = 1): string => n.toFixed(digits);
export const mbps = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);

/** A free loopback TCP port (released just before use; fine for a benchmark). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

export async function makeTempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A readable of `total` bytes generated on the fly: one random 1 MiB block repeated
 * (memory use stays at one block, whatever the size).
 */
export function generatedStream(total: number, chunk = MiB): Readable {
  const block = randomFillSync(Buffer.allocUnsafe(chunk));
  let left = total;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunk);
      left -= n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

/** VmRSS of a process in bytes, or null once it is gone. */
export async function rssOf(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface RssSampler {
  /** Stops sampling; resolves with the peak, the number of samples and the largest gap between them. */
  stop: () => Promise<{ peak: number; samples: number; maxGapMs: number }>;
}

/**
 * Samples VmRSS of `pid` every `intervalMs` in a worker thread, so a busy benchmark event loop
 * cannot delay or skip samples.
 */
export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const { pid, intervalMs, stopFlag } = workerData;
    const flag = new Int32Array(stopFlag);
    let peak = 0, samples = 0, maxGap = 0, last = performance.now();
    while (Atomics.load(flag, 0) === 0) {
      try {
        const m = /^VmRSS:\\s+(\\d+)\\s+kB/m.exec(readFileSync('/proc/' + pid + '/status', 'utf8'));
        if (m) { peak = Math.max(peak, Number(m[1]) * 1024); samples++; }
      } catch {}
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      Atomics.wait(flag, 0, 0, intervalMs);
    }
    parentPort.postMessage({ peak, samples, maxGapMs: maxGap });
  `;
  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(code, { eval: true, workerData: { pid, intervalMs, stopFlag } });
  const result = new Promise<{ peak: number; samples: number; maxGapMs: number }>((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  return {
    stop: async () => {
      const flag = new Int32Array(stopFlag);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      const r = await result;
      await worker.terminate();
      return r;
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A small HTTP request against 127.0.0.1 (or `host`); `body` may be a string/Buffer or a stream. */
export function http(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string | number>; body?: string | Buffer | Readable; timeoutMs?: number; host?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((res, rej) => {
    const req = httpRequest(
      { host: options.host ?? '127.0.0.1', port, method, path, headers: options.headers, timeout: options.timeoutMs ?? 30 * 60_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () =>
          res({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', rej);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', rej);
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/**
 * Watches a child process: keeps the tail of its stderr and stops it with SIGTERM, then SIGKILL
 * after `graceMs`. Safe to call `stop` more than once.
 */
export function superviseChild(child: ChildProcess, graceMs = 5000): { stderr: () => string; stop: () => Promise<void> } {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { stderr: () => stderr, stop };
}

export interface FerryChild {
  /** Where it listens: 127.0.0.1 unless started on another host address (see bench/link.ts). */
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}

/**
 * Starts `apps/server/src/main.ts` in a child node process on a fresh loopback port and waits for /readyz.
 * `nodeArgs` go before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept).
 * `place` runs it elsewhere: listening on `host`, started through `wrap` (e.g. `ip netns exec …`).
 */
export async function startFerryChild(
  dataDir: string,
  extraEnv: Record<string, string> = {},
  nodeArgs: string[] = [],
  place: { host: string; wrap: string[] } = { host: '127.0.0.1', wrap: [] },
): Promise<FerryChild> {
  const port = await freePort();
  const { host } = place;
  const argv = [process.execPath, ...nodeArgs, '--conditions=@ferry/source', '--import', 'tsx', 'apps/server/src/main.ts'];
  const [command, ...args] = [...place.wrap, ...argv] as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PORT: String(port),
      HOST: host,
      FERRY_DATA_DIR: dataDir,
      FERRY_ADMIN_TOKEN: ADMIN_TOKEN,
      // No demo model (nor its background jobs) in measured servers.
      FERRY_DEMO: "false",
      FERRY_MAX_UPLOAD_BYTES: String(64 * 1024 * MiB),
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      FERRY_S3_BUCKET: '',
      FERRY_S3_ENDPOINT: '',
      FERRY_PUBLIC_URL: '',
      FERRY_ARTIFACT_DELIVERY: '',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { stderr, stop } = superviseChild(child, 10_000);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ferry exited with ${child.exitCode} before it was ready:\n${stderr()}`);
    const ok = await http(port, 'GET', '/readyz', { timeoutMs: 2000, host }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ferry was not ready within 120 s:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { host, port, pid: child.pid!, dataDir, process: child, stop };
}

export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}` };

export async function createModel(port: number, name: string, host?: string): Promise<void> {
  const r = await http(port, 'POST', '/v1/projects/default/models', {
    host,
    headers: { ...adminHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (r.status !== 201 && r.status !== 200) throw new Error(`create model: ${r.status} ${r.body}`);
}

/** Streams `bytes` generated bytes as a new version of `model`; returns the artifact's sha256. */
export async function uploadGenerated(port: number, model: string, bytes: number): Promise<string> {
  const r = await http(port, 'POST', `/v1/projects/default/models/${model}/versions?format=other`, {
    headers: { ...adminHeaders, 'content-type': 'application/octet-stream', 'content-length': bytes },
    body: generatedStream(bytes),
  });
  if (r.status !== 201) throw new Error(`upload: ${r.status} ${r.body}`);
  return (JSON.parse(r.body) as { sha256: string }).sha256;
}

export async function defaultAppKey(port: number): Promise<string> {
  const r = await http(port, 'GET', '/v1/projects/default/app-keys', { headers: adminHeaders });
  if (r.status !== 200) throw new Error(`app keys: ${r.status} ${r.body}`);
  return (JSON.parse(r.body) as { appKeys: { key: string }[] }).appKeys[0]!.key;
}

/** Runs `fn` with cleanups that also run on SIGINT/SIGTERM. */
export async function withCleanup(fn: (defer: (cleanup: () => Promise<void> | void) => void) => Promise<void>): Promise<void> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const runCleanups = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        console.error('cleanup failed:', err);
      }
    }
  };
  const onSignal = (): void => {
    void runCleanups().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await fn((c) => cleanups.push(c));
  } finally {
    await runCleanups();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
