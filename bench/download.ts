/**
 * Download benchmark: uploads one generated artifact (BENCH_DOWNLOAD_MB, default 256) to a Ferry
 * server in a child process, then downloads it with `GET /v1/artifacts/<sha256>` and, as the
 * baseline, the SAME blob file from nginx (Debian's nginx-light, `sendfile on`, one worker)
 * started on a free loopback port. Same client for both (node:http, keep-alive, bytes counted
 * and discarded); runs are interleaved (ferry, nginx, nginx, ferry, …) and medians compared.
 *   - sequential: BENCH_DOWNLOAD_ROUNDS (default 7) single full downloads from each
 *   - concurrent: BENCH_DOWNLOAD_ROUNDS rounds of BENCH_DOWNLOAD_PARALLEL (default 4) parallel downloads
 *   - BENCH_CLIENT=curl: the timed downloads use curl (-o /dev/null) instead of node:http, a client
 *     with far less CPU per byte: on 2 shared cores the node client is itself near the limit
 * Target: Ferry >= 0.7× nginx.
 *
 *   apt-get install -y nginx-light   # once
 *   node --conditions=@ferry/source --import tsx bench/download.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import {
  MiB,
  createModel,
  defaultAppKey,
  envInt,
  fmt,
  freePort,
  http,
  makeTempDir,
  mbps,
  median,
  startFerryChild,
  uploadGenerated,
  withCleanup,
  superviseChild,
} from './lib.js';

const SIZE_MB = envInt('BENCH_DOWNLOAD_MB', 256);
const ROUNDS = envInt('BENCH_DOWNLOAD_ROUNDS', 7);
const PARALLEL = envInt('BENCH_DOWNLOAD_PARALLEL', 4);
const TARGET = 0.7;
const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';
const CLIENT = process.env.BENCH_CLIENT === 'curl' ? 'curl' : 'node';

interface Target {
  name: string;
  port: number;
  path: string;
  headers: Record<string, string>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One full download; returns milliseconds. Bytes are counted (and optionally hashed), never kept. */
function download(t: Target, expected: number, hash?: ReturnType<typeof createHash>): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const req = get({ host: '127.0.0.1', port: t.port, path: t.path, headers: t.headers, agent, timeout: 10 * 60_000 }, (r) => {
      if (r.statusCode !== 200) {
        r.resume();
        rej(new Error(`${t.name}: HTTP ${r.statusCode}`));
        return;
      }
      let n = 0;
      r.on('data', (c: Buffer) => {
        n += c.length;
        hash?.update(c);
      });
      r.on('end', () => (n === expected ? res(performance.now() - t0) : rej(new Error(`${t.name}: got ${n} of ${expected} bytes`))));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`${t.name}: timed out`)));
    req.on('error', rej);
  });
}

/** One full download with curl, body to /dev/null; returns wall milliseconds (process start included). */
function curlDownload(t: Target, expected: number): Promise<number> {
  return new Promise((res, rej) => {
    const args = ['-s', '-S', '--fail', '-o', '/dev/null', '-w', '%{size_download}', '--max-time', '600'];
    for (const [k, v] of Object.entries(t.headers)) args.push('-H', `${k}: ${v}`);
    args.push(`http://127.0.0.1:${t.port}${t.path}`);
    const t0 = performance.now();
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', rej);
    // 'close', not 'exit': stdout may still hold the -w output when the process exits.
    child.once('close', (code) => {
      const ms = performance.now() - t0;
      if (code === 0 && Number(out) === expected) res(ms);
      else rej(new Error(`${t.name}: curl exited with ${code}: ${out}`));
    });
  });
}

const timedDownload = (t: Target, expected: number): Promise<number> =>
  CLIENT === 'curl' ? curlDownload(t, expected) : download(t, expected);

async function startNginx(dir: string, root: string): Promise<{ port: number; stop: () => Promise<void> }> {
  if (spawnSync(NGINX, ['-v']).error) {
    throw new Error(`nginx not found at ${NGINX}: apt-get install -y nginx-light (or set BENCH_NGINX)`);
  }
  const port = await freePort();
  const tmp = join(dir, 'nginx-tmp');
  await mkdir(tmp, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { stderr, stop } = superviseChild(child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${stderr()}`);
    const up = await http(port, 'HEAD', '/', { timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
    if (up) return { port, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not start:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

await withCleanup(async (defer) => {
  const tmp = await makeTempDir('ferry-bench-download-');
  defer(tmp.remove);
  const dataDir = join(tmp.path, 'data');
  const size = SIZE_MB * MiB;

  console.log(
    `download benchmark: ${SIZE_MB} MiB artifact, ${ROUNDS} rounds, ${PARALLEL} parallel in the concurrent phase, client ${CLIENT}`,
  );
  const ferry = await startFerryChild(dataDir);
  defer(ferry.stop);
  await createModel(ferry.port, 'bench-download');
  const sha = await uploadGenerated(ferry.port, 'bench-download', size);
  const appKey = await defaultAppKey(ferry.port);

  // The local store keeps blobs at <dataDir>/blobs/sha256/<ab>/<sha256>: nginx serves that file.
  const nginx = await startNginx(tmp.path, join(dataDir, 'blobs'));
  defer(nginx.stop);

  const targets: Target[] = [
    { name: 'ferry', port: ferry.port, path: `/v1/artifacts/${sha}`, headers: { 'x-ferry-app-key': appKey } },
    { name: 'nginx', port: nginx.port, path: `/sha256/${sha.slice(0, 2)}/${sha}`, headers: {} },
  ];

  // Warm-up and check: both answer the same bytes (and the file is in the page cache for both).
  for (const t of targets) {
    const h = createHash('sha256');
    await download(t, size, h);
    const got = h.digest('hex');
    if (got !== sha) throw new Error(`${t.name} served bytes with sha256 ${got}, expected ${sha}`);
  }

  const seq: Record<string, number[]> = { ferry: [], nginx: [] };
  const par: Record<string, number[]> = { ferry: [], nginx: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA order: each target goes first half of the time.
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) seq[t.name]!.push(mbps(size, await timedDownload(t, size)));
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: PARALLEL }, () => timedDownload(t, size)));
      par[t.name]!.push(mbps(size * PARALLEL, performance.now() - t0));
    }
  }

  const report = (label: string, runs: Record<string, number[]>): number => {
    const f = median(runs.ferry!);
    const n = median(runs.nginx!);
    const ratio = f / n;
    console.log(
      `${label}: ferry ${fmt(f)} MiB/s, nginx ${fmt(n)} MiB/s → ferry/nginx = ${fmt(ratio, 2)}× ` +
        `(${ratio >= TARGET ? 'PASS' : 'FAIL'}, target >= ${TARGET}×)`,
    );
    console.log(`  ferry runs: ${runs.ferry!.map((x) => fmt(x, 0)).join(' ')}`);
    console.log(`  nginx runs: ${runs.nginx!.map((x) => fmt(x, 0)).join(' ')}`);
    return ratio;
  };
  console.log('');
  const r1 = report('sequential (1 connection)', seq);
  const r2 = report(`concurrent (${PARALLEL} connections)`, par);
  agent.destroy();
  if (Math.min(r1, r2) < TARGET) process.exitCode = 1;
});
