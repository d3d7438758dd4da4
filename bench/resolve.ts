/**
 * Resolve benchmark: `POST /v1/resolve` throughput and latency of a Ferry server in a child
 * process (embedded PGlite, local blobs), against a fastify hello-world (`GET /` →
 * `{hello:'world'}`) in its own child process as the baseline, both loaded by autocannon in this
 * process with the same settings (BENCH_RESOLVE_CONNECTIONS, default 50, connections;
 * BENCH_RESOLVE_SECONDS, default 10, seconds per run). Runs are interleaved hello, resolve,
 * hello, resolve, … (BENCH_RESOLVE_ROUNDS, default 2, of each) after a short warm-up of both;
 * medians are compared.
 *
 * Setup: BENCH_RESOLVE_MODELS (default 20) models, each with a small real ONNX MLP as version 1
 * published as stable (rollout `[100]`); the first BENCH_RESOLVE_ROLLOUTS (default 4) also get a
 * version 2 under an active rollout `[10, 50, 100]`, every second one advanced to 50 %, so the
 * per-device bucketing decides. The load cycles through BENCH_RESOLVE_DEVICES (default 10000)
 * pre-built bodies, each a distinct device id on a random model. Before timing, a sample of
 * answers is checked: JWS signature against /v1/keys, model, and the version the device's bucket
 * must get.
 *
 * Targets: resolve ≥ 0.5× hello-world req/s, resolve p99 < 10 ms (BENCH_RESOLVE_P99_MS).
 * Any non-2xx answer, socket error or timeout during a timed run fails the benchmark.
 * BENCH_PROFILE=1: runs the server child with --cpu-prof and prints its top self-time functions
 * and packages (the numbers of a profiled run are not comparable to a plain one);
 * BENCH_PROFILE_DIR keeps the .cpuprofile there instead of in the temp dir.
 *
 *   node --conditions=@ferry/source --import tsx bench/resolve.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import autocannon from 'autocannon';
import { findWrk, runWrk, writeWrkScript } from './wrk.js';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { buildMlp } from '@ferry/compress/testing';
import { admitted } from '../apps/server/src/delivery/bucketing.js';
import {
  REPO_ROOT,
  adminHeaders,
  createModel,
  defaultAppKey,
  envInt,
  fmt,
  freePort,
  http,
  makeTempDir,
  median,
  startFerryChild,
  withCleanup,
  superviseChild,
} from './lib.js';

const MODELS = envInt('BENCH_RESOLVE_MODELS', 20);
const ROLLOUTS = Math.min(MODELS, Number(process.env.BENCH_RESOLVE_ROLLOUTS ?? 4));
const DEVICES = envInt('BENCH_RESOLVE_DEVICES', 10_000);
const CONNECTIONS = envInt('BENCH_RESOLVE_CONNECTIONS', 50);
const SECONDS = envInt('BENCH_RESOLVE_SECONDS', 10);
const ROUNDS = envInt('BENCH_RESOLVE_ROUNDS', 2);
const WARMUP_SECONDS = 3;
const RATIO_TARGET = 0.5;
const P99_TARGET_MS = envInt('BENCH_RESOLVE_P99_MS', 10);
const PROFILE = process.env.BENCH_PROFILE === '1';
// Background variant builds (a server with a jobs API): off by default (FERRY_JOB_CONCURRENCY=0,
// versions keep only their original upload, nothing runs in the background), or
// BENCH_RESOLVE_JOBS=wait: let them run and start timing once none is queued or running.
const JOBS = process.env.BENCH_RESOLVE_JOBS === 'wait' ? 'wait' : 'off';
const JOBS_WAIT_SECONDS = envInt('BENCH_RESOLVE_JOBS_WAIT_SECONDS', 600);
// Load generator: autocannon (in this process), wrk (Debian's `wrk`, a C program), or both, each
// with its own interleaved hello/resolve runs and its own ratio.
// Default: autocannon, and wrk too when it is installed.
const CLIENTS = (process.env.BENCH_RESOLVE_CLIENT ?? (findWrk() ? 'both' : 'autocannon')).split(',').flatMap((c) =>
  c === 'both' ? ['autocannon', 'wrk'] : [c],
) as ('autocannon' | 'wrk')[];
const WRK_THREADS = envInt('BENCH_RESOLVE_WRK_THREADS', 1);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const modelName = (i: number): string => `bench-m${String(i).padStart(2, '0')}`;

/** utime + stime of a process in seconds, or null once it is gone. */
async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

interface HelloChild {
  port: number;
  pid: number;
  stop: () => Promise<void>;
}

/** A fastify hello-world in its own node process (same fastify as Ferry's), logger off. */
async function startHelloChild(): Promise<HelloChild> {
  const port = await freePort();
  const code = `
    import Fastify from 'fastify';
    const app = Fastify({ logger: false });
    app.get('/', async () => ({ hello: 'world' }));
    await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
    process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { stderr, stop } = superviseChild(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hello-world exited with ${child.exitCode}:\n${stderr()}`);
    const r = await http(port, 'GET', '/', { timeoutMs: 2000 }).catch(() => null);
    if (r?.status === 200 && r.body === '{"hello":"world"}') break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`hello-world not ready within 30 s:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, pid: child.pid!, stop };
}

async function adminJson(port: number, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await http(port, method, path, {
    headers: body === undefined ? adminHeaders : { ...adminHeaders, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

async function uploadOnnx(port: number, model: string, seed: number): Promise<number> {
  const bytes = Buffer.from(buildMlp({ seed, inputSize: 16, hidden: [8], outputs: 4 }));
  const r = await http(port, 'POST', `/v1/projects/default/models/${model}/versions`, {
    headers: { ...adminHeaders, 'content-type': 'application/octet-stream', 'content-length': bytes.length },
    body: bytes,
  });
  if (r.status !== 201) throw new Error(`upload ${model}: ${r.status} ${r.body}`);
  return (JSON.parse(r.body) as { version: number }).version;
}

interface RolloutInfo {
  id: string;
  version: number;
  percent: number;
}

interface Body {
  model: string;
  deviceId: string;
  json: string;
}

function makeBodies(count: number): Body[] {
  const bodies: Body[] = [];
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    const model = modelName(Math.floor(rand() * MODELS));
    const deviceId = `bench-device-${i.toString(36)}-${Math.floor(rand() * 2 ** 32).toString(16)}`;
    const json = JSON.stringify({
      model,
      device: {
        id: deviceId,
        platform: 'web',
        sdk: { version: '1.0.0' },
        capabilities: { backends: ['webgpu', 'wasm'], features: ['shader-f16'], memoryMB: 8192 },
      },
    });
    bodies.push({ model, deviceId, json });
  }
  return bodies;
}

// autocannon ships no types: the options and the part of its result used here.
type AutocannonOptions = Record<string, unknown>;
interface AutocannonResult {
  duration: number;
  requests: { total: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  serverCpu: number | null;
  loadGenCpu: number;
}

type LoadSpec =
  | { client: 'autocannon'; opts: AutocannonOptions }
  | { client: 'wrk'; bin: string; script: string };

/** One run of the load generator; throws on any non-2xx answer, socket error or timeout. */
async function load(name: string, port: number, pid: number, seconds: number, spec: LoadSpec): Promise<Run> {
  const cpu0 = await cpuSeconds(pid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let run: Omit<Run, 'serverCpu' | 'loadGenCpu'>;
  let loadGenCpu: number | null = null;
  if (spec.client === 'autocannon') {
    const result = (await autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: CONNECTIONS,
      pipelining: 1,
      duration: seconds,
      timeout: 10,
      ...spec.opts,
    })) as AutocannonResult;
    if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
      throw new Error(
        `${name}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts ` +
          `(status codes: ${JSON.stringify(result.statusCodeStats)})`,
      );
    }
    run = {
      rps: result.requests.total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
      requests: result.requests.total,
    };
  } else {
    const r = await runWrk({
      bin: spec.bin,
      url: `http://127.0.0.1:${port}`,
      script: spec.script,
      connections: CONNECTIONS,
      threads: WRK_THREADS,
      seconds,
    });
    const bad = Object.entries(r.errors).filter(([, n]) => n > 0);
    if (bad.length) throw new Error(`${name}: wrk errors ${JSON.stringify(r.errors)} (status = non-2xx/3xx answers)`);
    run = { rps: r.requests / r.seconds, p50: r.p50, p99: r.p99, max: r.max, requests: r.requests };
    loadGenCpu = r.cpuSeconds;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await cpuSeconds(pid);
  const self = process.cpuUsage(self0);
  return {
    ...run,
    serverCpu: cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / elapsed : null,
    loadGenCpu: (loadGenCpu ?? (self.user + self.system) / 1e6) / elapsed,
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Top self-time functions and packages of a .cpuprofile, counting only samples taken inside
 * `windows` (CLOCK_MONOTONIC µs, the clock of both V8's profiler and process.hrtime on Linux):
 * the timed resolve runs, not start-up or setup. Returns false when the profile has no busy
 * sample there (e.g. the tsx loader thread's profile).
 */
async function summarizeProfile(path: string, windows: [number, number][]): Promise<boolean> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Keep the samples inside the windows; each weighs the time until the next sample.
  const kept: { id: number; ms: number }[] = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (windows.some(([a, b]) => t >= a && t <= b)) kept.push({ id: profile.samples[i]!, ms });
  }
  const self = new Map<number, number>();
  for (const { id, ms } of kept) self.set(id, (self.get(id) ?? 0) + ms);

  const where = (url: string): string => {
    if (!url) return '(native)';
    const nm = url.lastIndexOf('node_modules/');
    if (nm !== -1) {
      const rest = url.slice(nm + 'node_modules/'.length).split('/');
      return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    }
    if (url.startsWith('node:')) return 'node internals';
    const m = /\/(apps|packages)\/([^/]+)\/src\/(.*)$/.exec(url);
    return m ? `${m[1]}/${m[2]}/${m[3]}` : url;
  };
  const fnKey = (n: ProfileNode): string => {
    const f = n.callFrame;
    const file = f.url ? `${where(f.url)}${f.url.includes('node_modules') ? ':' + f.url.split('/').pop() : ''}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${file}`.trim();
  };

  let total = 0;
  let idle = 0;
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    total += ms;
    if (n.callFrame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    fns.set(fnKey(n), (fns.get(fnKey(n)) ?? 0) + ms);
    const special = n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : where(n.callFrame.url);
    pkgs.set(special, (pkgs.get(special) ?? 0) + ms);
  }
  // Inclusive time of Ferry's own functions and of fastify's serialize/validate (synchronous
  // stacks only: an async continuation starts a new stack).
  const ours = (n: ProfileNode): boolean =>
    /\/(apps|packages)\/[^/]+\/src\//.test(n.callFrame.url) ||
    (/node_modules\/fastify\//.test(n.callFrame.url) && ['serialize', 'validate'].includes(n.callFrame.functionName));
  const inclusive = new Map<string, number>();
  for (const { id, ms } of kept) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!ours(n) || seen.has(fnKey(n))) continue;
      seen.add(fnKey(n));
      inclusive.set(fnKey(n), (inclusive.get(fnKey(n)) ?? 0) + ms);
    }
  }

  const busy = total - idle;
  if (busy < 0.01 * total || busy === 0) return false;
  const pct = (ms: number): string => `${fmt((100 * ms) / busy)}%`;
  console.log(
    `\nserver CPU profile, timed resolve runs only: ${fmt(total / 1000)} s sampled, ${fmt(busy / 1000)} s busy (${fmt((100 * busy) / total)}%)`,
  );
  console.log('self time by package/file (% of busy):');
  for (const [k, ms] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(ms).padStart(6)}  ${fmt(ms, 0).padStart(7)} ms  ${k}`);
  console.log('top self-time functions (% of busy):');
  for (const [k, ms] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(ms).padStart(6)}  ${fmt(ms, 0).padStart(7)} ms  ${k}`);
  console.log('inclusive time of Ferry functions (% of busy; synchronous part only):');
  for (const [k, ms] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(ms).padStart(6)}  ${fmt(ms, 0).padStart(7)} ms  ${k}`);
  return true;
}

let failed = false;

await withCleanup(async (defer) => {
  const tmp = await makeTempDir('ferry-bench-resolve-');
  defer(tmp.remove);
  const profileDir = PROFILE ? resolvePath(process.env.BENCH_PROFILE_DIR ?? join(tmp.path, 'profile')) : null;
  if (profileDir) await mkdir(profileDir, { recursive: true });

  console.log(
    `resolve benchmark: ${MODELS} models (${ROLLOUTS} with a v2 rollout), ${DEVICES} devices, ` +
      `${CONNECTIONS} connections, ${SECONDS} s × ${ROUNDS} runs each${PROFILE ? ', server PROFILED (--cpu-prof)' : ''}; ` +
      `load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}`,
  );
  const ferry = await startFerryChild(
    join(tmp.path, 'data'),
    JOBS === 'off' ? { FERRY_JOB_CONCURRENCY: '0' } : {},
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  // Stopping Ferry writes the profile (on exit): summarize after it is stopped.
  let ferryStopped = false;
  const stopFerry = async (): Promise<void> => {
    if (ferryStopped) return;
    ferryStopped = true;
    await ferry.stop();
  };
  defer(stopFerry);
  const hello = await startHelloChild();
  defer(hello.stop);

  // --- setup: models, versions, rollouts
  const rollouts = new Map<string, RolloutInfo>();
  for (let i = 0; i < MODELS; i++) {
    const m = modelName(i);
    await createModel(ferry.port, m);
    const v1 = await uploadOnnx(ferry.port, m, i + 1);
    await adminJson(ferry.port, 'POST', `/v1/projects/default/models/${m}/rollouts`, { version: v1, stages: [100] });
    if (i < ROLLOUTS) {
      const v2 = await uploadOnnx(ferry.port, m, 1000 + i);
      const stages = [10, 50, 100];
      let r = (await adminJson(ferry.port, 'POST', `/v1/projects/default/models/${m}/rollouts`, { version: v2, stages })) as {
        id: string;
        percent: number;
      };
      if (i % 2 === 1) r = (await adminJson(ferry.port, 'POST', `/v1/projects/default/rollouts/${r.id}/advance`)) as typeof r;
      rollouts.set(m, { id: r.id, version: v2, percent: r.percent });
    }
  }
  // Variant builds, when this server has them: timing starts once the serving state is steady.
  const jobsAnswer = await http(ferry.port, 'GET', '/v1/projects/default/jobs?limit=500', { headers: adminHeaders });
  if (jobsAnswer.status === 200) {
    const t0 = performance.now();
    let counts: Record<string, number> = {};
    for (;;) {
      const { jobs } = (await adminJson(ferry.port, 'GET', '/v1/projects/default/jobs?limit=500')) as { jobs: { status: string }[] };
      counts = {};
      for (const j of jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
      if (JOBS === 'off' || !(counts.queued || counts.running)) break;
      if (performance.now() - t0 > JOBS_WAIT_SECONDS * 1000) throw new Error(`variant jobs still not done after ${JOBS_WAIT_SECONDS} s: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    console.log(
      `background jobs (${JOBS === 'off' ? 'off: FERRY_JOB_CONCURRENCY=0' : `waited ${fmt((performance.now() - t0) / 1000, 0)} s`}): ${JSON.stringify(counts)}`,
    );
  }
  const appKey = await defaultAppKey(ferry.port);
  const bodies = makeBodies(DEVICES);
  console.log(
    `set up: ${MODELS} models; rollouts: ${[...rollouts].map(([m, r]) => `${m} v${r.version}@${r.percent}%`).join(', ') || 'none'}`,
  );

  // --- correctness sample: signature, model, and the version the device's bucket must get
  const jwks = createLocalJWKSet(JSON.parse((await http(ferry.port, 'GET', '/v1/keys')).body) as JSONWebKeySet);
  const perRollout = new Map<string, { total: number; onV2: number }>();
  const candidateCounts = new Set<number>();
  const sample = bodies.slice(0, Math.min(600, bodies.length));
  for (const b of sample) {
    const r = await http(ferry.port, 'POST', '/v1/resolve', {
      headers: { 'content-type': 'application/json', 'x-ferry-app-key': appKey },
      body: b.json,
    });
    if (r.status !== 200) throw new Error(`resolve ${b.model}/${b.deviceId}: ${r.status} ${r.body}`);
    const { payload } = await jwtVerify((JSON.parse(r.body) as { manifest: string }).manifest, jwks);
    const p = payload as unknown as { model: string; version: number; rollout: { id: string } | null; candidates: unknown[] };
    candidateCounts.add(p.candidates.length);
    const ro = rollouts.get(b.model);
    const expected = ro && admitted(ro.id, b.deviceId, ro.percent) ? ro.version : 1;
    if (p.model !== b.model || p.version !== expected) {
      throw new Error(`resolve ${b.model}/${b.deviceId}: got ${p.model} v${p.version}, expected v${expected}`);
    }
    if (ro) {
      const s = perRollout.get(b.model) ?? { total: 0, onV2: 0 };
      s.total++;
      if (p.version === ro.version) s.onV2++;
      perRollout.set(b.model, s);
    }
  }
  console.log(
    `checked ${sample.length} answers (signature, model, bucketed version): OK; candidates per manifest: ` +
      `${[...candidateCounts].sort((a, b) => a - b).join('/')}; devices on v2: ` +
      [...perRollout].map(([m, s]) => `${m} ${s.onV2}/${s.total} (rollout ${rollouts.get(m)!.percent}%)`).join(', '),
  );

  let next = 0;
  const resolveHeaders = { 'content-type': 'application/json', 'x-ferry-app-key': appKey };
  const specs = async (client: 'autocannon' | 'wrk'): Promise<{ hello: LoadSpec; resolve: LoadSpec }> => {
    if (client === 'autocannon') {
      return {
        hello: { client, opts: { method: 'GET' } },
        resolve: {
          client,
          opts: {
            requests: [
              {
                method: 'POST',
                path: '/v1/resolve',
                headers: resolveHeaders,
                setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length]!.json }),
              },
            ],
          },
        },
      };
    }
    const bin = findWrk();
    if (!bin) throw new Error('wrk is not installed (apt-get install -y wrk), or run with BENCH_RESOLVE_CLIENT=autocannon');
    return {
      hello: { client, bin, script: await writeWrkScript(tmp.path, 'hello', { method: 'GET', path: '/' }) },
      resolve: {
        client,
        bin,
        script: await writeWrkScript(tmp.path, 'resolve', {
          method: 'POST',
          path: '/v1/resolve',
          headers: resolveHeaders,
          bodies: bodies.map((b) => b.json),
        }),
      },
    };
  };

  const line = (name: string, r: Run): string =>
    `  ${name.padEnd(8)} ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(r.p50, 0)} ms  p99 ${fmt(r.p99, 0)} ms  ` +
    `max ${fmt(r.max, 0)} ms  server CPU ${r.serverCpu === null ? '?' : fmt(100 * r.serverCpu, 0) + '%'}  ` +
    `load-gen CPU ${fmt(100 * r.loadGenCpu, 0)}%`;
  const windows: [number, number][] = [];
  const verdicts: string[] = [];
  for (const client of CLIENTS) {
    const spec = await specs(client);
    console.log(`\nload generator: ${client}${client === 'wrk' ? ` (${WRK_THREADS} thread${WRK_THREADS > 1 ? 's' : ''})` : ' (in this process)'}`);
    // --- warm-up (JIT, caches), then interleaved timed runs
    await load('hello warm-up', hello.port, hello.pid, WARMUP_SECONDS, spec.hello);
    await load('resolve warm-up', ferry.port, ferry.pid, WARMUP_SECONDS, spec.resolve);
    const runs: { hello: Run[]; resolve: Run[] } = { hello: [], resolve: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const h = await load('hello', hello.port, hello.pid, SECONDS, spec.hello);
      runs.hello.push(h);
      console.log(line('hello', h));
      const w0 = nowUs();
      const r = await load('resolve', ferry.port, ferry.pid, SECONDS, spec.resolve);
      windows.push([w0, nowUs()]);
      runs.resolve.push(r);
      console.log(line('resolve', r));
    }

    const med = (rs: Run[], k: keyof Run): number => median(rs.map((r) => r[k] as number));
    const hRps = med(runs.hello, 'rps');
    const rRps = med(runs.resolve, 'rps');
    const ratio = rRps / hRps;
    const p99 = med(runs.resolve, 'p99');
    const ratioOk = ratio >= RATIO_TARGET;
    const p99Ok = p99 < P99_TARGET_MS;
    const cpu = (rs: Run[]): string => (rs.every((r) => r.serverCpu !== null) ? `${fmt(100 * med(rs, 'serverCpu'), 0)}%` : '?');
    const perRequest = (rs: Run[], rps: number, k: 'serverCpu' | 'loadGenCpu'): string =>
      rps > 0 && rs.every((r) => r[k] !== null) ? `${fmt((1e6 * med(rs, k)) / rps, 0)} µs` : '?';
    console.log(`medians over ${ROUNDS} runs of ${SECONDS} s, ${CONNECTIONS} connections, ${client}:`);
    console.log(
      `  hello-world: ${fmt(hRps, 0)} req/s, p50 ${fmt(med(runs.hello, 'p50'), 0)} ms, p99 ${fmt(med(runs.hello, 'p99'), 0)} ms, server CPU ${cpu(runs.hello)}`,
    );
    console.log(
      `  resolve:     ${fmt(rRps, 0)} req/s, p50 ${fmt(med(runs.resolve, 'p50'), 0)} ms, p99 ${fmt(p99, 0)} ms, server CPU ${cpu(runs.resolve)}`,
    );
    console.log(
      `  CPU per request: server ${perRequest(runs.resolve, rRps, 'serverCpu')} per resolve, ${perRequest(runs.hello, hRps, 'serverCpu')} per hello; ` +
        `load generator ${perRequest(runs.resolve, rRps, 'loadGenCpu')} per resolve, ${perRequest(runs.hello, hRps, 'loadGenCpu')} per hello`,
    );
    const verdict =
      `${client.padEnd(10)} ratio resolve/hello ${fmt(ratio, 2)}× (target ≥ ${RATIO_TARGET}): ${ratioOk ? 'PASS' : 'MISS'}; ` +
      `resolve p99 ${fmt(p99, 0)} ms (target < ${P99_TARGET_MS} ms): ${p99Ok ? 'PASS' : 'MISS'}`;
    console.log(`  ${verdict}`);
    verdicts.push(verdict);
    if (!ratioOk || !p99Ok) failed = true;
  }
  console.log(`\nload average now ${loadavg().map((l) => fmt(l, 2)).join(' ')} (2 cores; anything else running skews both)`);
  console.log('summary:');
  for (const v of verdicts) console.log(`  ${v}`);

  if (profileDir) {
    await stopFerry();
    const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
    if (!files.length) console.log(`\nno .cpuprofile was written in ${profileDir}`);
    for (const f of files) {
      if (await summarizeProfile(join(profileDir, f), windows)) console.log(`  (profile: ${join(profileDir, f)})`);
    }
  }
});

process.exit(failed ? 1 : 0);
