/**
 * SDK load and inference benchmark, Node, against a Ferry server in a child process (PGlite,
 * local blobs). The model is a real ONNX MLP (784-BENCH_SDK_HIDDEN-BENCH_SDK_HIDDEN-10, default
 * 1024 → ~7 MiB). Each measurement is compared with the plain way of doing the same in the same
 * run, interleaved (baseline, sdk, baseline, sdk, …; BENCH_SDK_WARMUP, default 3, rounds of each not
 * counted, then BENCH_SDK_ROUNDS, default 15), medians:
 *
 * - cold load: `getModel('latest')` on an empty cache, in a cache directory that does not exist
 *   yet (resolve, manifest signature, release counter written durably, download with SHA-256
 *   while streaming, session, warm-up run; the cache write finishes behind getModel) vs plain
 *   `fetch(artifact)` + `InferenceSession.create` + one run, the two alternating which goes first
 *   (a load's garbage may be collected in the next one's time). Also shown, without a target:
 *   the time until the cache is written too (`listCachedModels()` waits for it).
 * - warm load: `getModel('local')` from the cache (manifest re-verified, bytes re-hashed before
 *   ONNX Runtime sees them, session, warm-up run) vs the issue's baseline, plain
 *   `fetch(artifact)` + `InferenceSession.create` + one run. Also shown, without a target: against
 *   `readFile` + `InferenceSession.create` + one run, the floor for any file cache.
 * - inference overhead: `model.run` vs `session.run`, batch 1, in BENCH_SDK_INFERENCE_PROCESSES
 *   (default 9) fresh processes that make the sessions in rotated orders, BENCH_SDK_RUNS (default
 *   150) runs of each per process; the ratio of the medians of the per-process medians. Beside it,
 *   a control without a target: a second plain session of the same bytes (see inferenceChild).
 *   And what `model.run`'s own code costs, over a session that answers at once.
 *
 * It runs itself again with glibc keeping freed memory (keepFreedMemory in common.ts; BENCH_SDK_MALLOC=default
 * to run without) and prints the page faults per load of both sides.
 *
 * Every timed load starts after BENCH_SDK_SETTLE_MS (10) ms idle: V8 runs the GC work the
 * previous load left there, not inside the next measurement (back to back, the SDK's warm median
 * moved between 10 and 20 ms from run to run with that work landing in it).
 *
 * BENCH_SDK_LINK=100mbit (root and iproute2) puts the server behind a link of that bandwidth
 * (bench/link.ts) instead of loopback: what a device on a real network sees.
 *
 * Targets (issue 5): cold ≤ 1.2×, warm ≤ 1.1×, inference ≤ 1.02× (BENCH_SDK_*_TARGET to change).
 *
 *   node --conditions=@ferry/source --import tsx bench/sdk/load.ts
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { createFerry, type Ferry, type InferenceRuntime, type ModelSession } from '@ferry/sdk';
import { MiB, envInt, fmt, makeTempDir, median, withCleanup } from '../lib.js';
import { TARGETS, keepFreedMemory, publishBenchModel, reportRatio, startBenchServer } from './common.js';

const HIDDEN = envInt('BENCH_SDK_HIDDEN', 1024);
const ROUNDS = envInt('BENCH_SDK_ROUNDS', 15);
/** Rounds of each kind run first and not counted: the JIT, the server's first requests and the allocator settle for both sides. */
const WARMUP = envInt('BENCH_SDK_WARMUP', 3);
/** Timed runs of each session per inference process. */
const RUNS = envInt('BENCH_SDK_RUNS', 150);
/** Fresh processes the inference runs are spread over (a multiple of 3 rotates each creation order equally often). */
const INFERENCE_PROCESSES = envInt('BENCH_SDK_INFERENCE_PROCESSES', 9);
/** Idle time before each timed load, so that work the previous one left (V8's GC tasks) runs before it, not in it. */
const SETTLE_MS = envInt('BENCH_SDK_SETTLE_MS', 10);

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

const MEMORY = keepFreedMemory();
/** Page faults of this process (memory it touched for the first time, or again after handing it back). */
const faults = () => process.resourceUsage().minorPageFault;

const INPUT = Float32Array.from({ length: 784 }, (_, i) => (i % 17) / 17);
const execFileAsync = promisify(execFile);

const KINDS = ['plain', 'sdk', 'control'] as const;
type Kind = (typeof KINDS)[number];
interface InferenceJob {
  base: string;
  appKey: { id: string; key: string };
  jwks: { keys: Record<string, unknown>[] };
  cacheDir: string;
  modelFile: string;
  order: Kind[];
  runs: number;
}

/**
 * One inference process: three sessions of the same bytes, made in `job.order` (plain: ORT's
 * own, from the file's bytes; sdk: `getModel('local')` from the primed cache, run through
 * `model.run`; control: a second plain one), then `job.runs` timed runs of each, rotating which
 * goes first. Prints the times as JSON.
 *
 * Why processes, and orders: two sessions of one model in one process run at speeds up to ~8 %
 * apart that change from process to process (where their weights and buffers land in the wasm
 * heap), SDK or not; one process measured the SDK at 1.06× with the control at 0.99×, the next
 * 0.99× with the control at 0.92×. Spread over fresh processes and creation orders, that
 * placement is no longer tied to one kind; the control shows what is left of it. And a run soon
 * after a run of the same session was 3–20 % faster here (even with 64 MiB of memory swept in
 * between): before each timed run a fourth session runs, untimed, so that no timed run directly
 * follows its own session.
 */
async function inferenceChild(job: InferenceJob): Promise<void> {
  ort.env.wasm.numThreads = 1;
  const bytes = new Uint8Array(await readFile(job.modelFile));
  const input = { input: new ort.Tensor('float32', INPUT, [1, 784]) };
  const ferry = createFerry({ serverUrl: job.base, appKey: job.appKey.key, appKeyId: job.appKey.id, trustedKeys: job.jwks, cache: { location: job.cacheDir }, telemetry: false });
  const made = {} as Record<Kind, { run(feeds: typeof input): Promise<unknown> }>;
  const plainSession = async () => {
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    await session.run(input); // As the SDK's warm-up run.
    return session;
  };
  for (const kind of job.order) made[kind] = kind === 'sdk' ? await ferry.getModel('bench-sdk', { policy: 'local' }) : await plainSession();
  const flush = await plainSession();
  for (let i = 0; i < 20; i++) for (const kind of job.order) await made[kind].run(input);
  const times: Record<Kind, number[]> = { plain: [], sdk: [], control: [] };
  for (let i = 0; i < job.runs; i++) {
    for (let k = 0; k < job.order.length; k++) {
      const kind = job.order[(i + k) % job.order.length]!;
      await settle();
      await flush.run(input);
      const t0 = performance.now();
      await made[kind].run(input);
      times[kind].push(performance.now() - t0);
    }
  }
  await ferry.close();
  console.log(JSON.stringify(times));
}

/** Page faults per timed load, by what was timed (printed as medians: whether one side touches more new memory). */
const faultsOf = new Map<string, number[]>();

/** Starts timing; the function returned gives the ms since, and records the page faults since under `what` (if given). */
function stopwatch(what?: string): () => number {
  const f0 = faults();
  const t0 = performance.now();
  return () => {
    const ms = performance.now() - t0;
    if (what) faultsOf.set(what, [...(faultsOf.get(what) ?? []), faults() - f0]);
    return ms;
  };
}

async function timed(fn: () => Promise<void>, what?: string): Promise<number> {
  await settle();
  const elapsed = stopwatch(what);
  await fn();
  return elapsed();
}

const WRAPPER_CALLS = 200_000;
const WRAPPER_REPEATS = 10;

/** Sessions that answer every run at once with the same outputs: what is left to time is the SDK's code around them. */
function instantRuntime(): InferenceRuntime {
  const outputs = Promise.resolve({ output: { type: 'float32', data: new Float32Array(10), dims: [1, 10] } });
  const session: ModelSession = { backend: 'wasm', inputNames: ['input'], outputNames: ['output'], inputInfo: undefined, run: () => outputs, release: async () => undefined };
  return { name: 'instant', supports: (backend) => backend === 'wasm' || backend === 'cpu', createSession: async () => session, tensor: (type, data, dims) => ({ type, data, dims }) };
}

/** ns per call of `model.run` and of its session's `run` called directly, medians of alternating repeats. */
async function wrapperCost(cacheDir: string, client: (dir: string) => Ferry): Promise<{ direct: number; model: number }> {
  const ferry = client(cacheDir);
  const model = await ferry.getModel('bench-sdk', { policy: 'local' });
  const session = (await instantRuntime().createSession(new Uint8Array(0), 'wasm')) as ModelSession;
  const input = { input: new ort.Tensor('float32', INPUT, [1, 784]) };
  const ns = { direct: [] as number[], model: [] as number[] };
  for (let r = 0; r < WRAPPER_REPEATS; r++) {
    for (const kind of ['direct', 'model'] as const) {
      const run = kind === 'direct' ? () => session.run(input) : () => model.run(input);
      const t0 = performance.now();
      for (let i = 0; i < WRAPPER_CALLS; i++) await run();
      ns[kind].push(((performance.now() - t0) / WRAPPER_CALLS) * 1e6);
    }
  }
  await ferry.close();
  return { direct: median(ns.direct), model: median(ns.model) };
}

const job = process.env.BENCH_SDK_INFERENCE_JOB;
if (job) {
  await inferenceChild(JSON.parse(job) as InferenceJob);
  process.exit(0);
}

await withCleanup(async (defer) => {
  const tmp = await makeTempDir('ferry-bench-sdk-');
  defer(tmp.remove);
  const server = await startBenchServer(tmp.path, defer);
  const { port } = server;
  const base = `http://${server.host}:${port}`;

  const { bytes, sha256, appKey, jwks } = await publishBenchModel(port, HIDDEN, server.host);
  const modelFile = join(tmp.path, 'model.onnx');
  await writeFile(modelFile, bytes);
  console.log(`model: ${fmt(bytes.byteLength / MiB, 2)} MiB MLP 784-${HIDDEN}-${HIDDEN}-10; ${ROUNDS} rounds; ${RUNS} runs for inference; server ${server.where}; ${MEMORY}`);

  ort.env.wasm.numThreads = 1;
  const feeds = () => ({ input: new ort.Tensor('float32', INPUT, [1, 784]) });
  const plainLoad = async (modelBytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
    await session.run(feeds());
    await session.release();
  };
  let cacheCount = 0;
  const client = (cacheDir: string): Ferry =>
    createFerry({ serverUrl: base, appKey: appKey.key, appKeyId: appKey.id, trustedKeys: jwks, cache: { location: cacheDir }, telemetry: false });

  // ONNX Runtime compiles its wasm on first use: pay that before timing anything.
  await plainLoad(bytes);

  const plainFetchLoad = async () => {
    const res = await fetch(`${base}/v1/artifacts/${sha256}`, { headers: { 'x-ferry-app-key': appKey.key } });
    await plainLoad(new Uint8Array(await res.arrayBuffer()));
  };
  const cold = { plain: [] as number[], sdk: [] as number[] };
  const coldCached = { plain: [] as number[], sdk: [] as number[] };
  const warm = { plain: [] as number[], sdk: [] as number[] };
  const warmFile = { plain: [] as number[], sdk: [] as number[] };
  let primed = '';
  const firstRound = { plain: 0, sdk: 0 };
  for (let r = -WARMUP; r < ROUNDS; r++) {
    const counted = r >= 0;
    const dir = join(tmp.path, `cache-${cacheCount++}`, 'new');
    const sdkLoad = async () => {
      await settle();
      const elapsed = stopwatch(counted ? 'cold sdk' : undefined);
      const untilCached = stopwatch();
      const ferry = client(dir); // Its start-up (cache open, probes) is part of the timed load.
      await ferry.getModel('bench-sdk', { policy: 'latest' });
      const sdk = elapsed();
      await ferry.listCachedModels();
      const cached = untilCached();
      await ferry.close();
      return { sdk, cached };
    };
    // Alternating which goes first: what one load leaves to collect (7 MiB buffers) may still be
    // collected in the next one's time, and the same side must not always pay for it.
    let plain: number;
    let measured: { sdk: number; cached: number };
    if ((r + WARMUP) % 2 === 0) {
      plain = await timed(plainFetchLoad, counted ? 'cold plain' : undefined);
      measured = await sdkLoad();
    } else {
      measured = await sdkLoad();
      plain = await timed(plainFetchLoad, counted ? 'cold plain' : undefined);
    }
    const { sdk, cached } = measured;
    primed = dir;
    if (r === -WARMUP) Object.assign(firstRound, { plain, sdk });
    if (!counted) continue;
    cold.plain.push(plain);
    coldCached.plain.push(plain);
    cold.sdk.push(sdk);
    coldCached.sdk.push(cached);
  }
  for (let r = -WARMUP; r < ROUNDS; r++) {
    const counted = r >= 0;
    const keep = (list: number[], ms: number) => void (counted && list.push(ms));
    const steps = [
      async () => keep(warm.plain, await timed(plainFetchLoad, counted ? 'warm plain' : undefined)),
      async () => keep(warmFile.plain, await timed(async () => plainLoad(new Uint8Array(await readFile(modelFile))))),
      async () => {
        await settle();
        const elapsed = stopwatch(counted ? 'warm sdk' : undefined);
        const ferry = client(primed); // As above: its start-up is part of the timed load.
        await ferry.getModel('bench-sdk', { policy: 'local' });
        const sdk = elapsed();
        await ferry.close();
        keep(warm.sdk, sdk);
        keep(warmFile.sdk, sdk);
      },
    ];
    // Rotated, so that no step always runs right after another.
    for (let i = 0; i < steps.length; i++) await steps[(i + r + WARMUP) % steps.length]!();
  }

  // Inference runs in fresh processes (see inferenceChild), each making its sessions in another order.
  const inference = { plain: [] as number[], sdk: [] as number[] };
  const inferenceControl = { plain: inference.plain, sdk: [] as number[] };
  const perProcess: string[] = [];
  for (let i = 0; i < INFERENCE_PROCESSES; i++) {
    const order = KINDS.map((_, k) => KINDS[(i + k) % KINDS.length]!);
    const job: InferenceJob = { base, appKey, jwks, cacheDir: primed, modelFile, order, runs: RUNS };
    const { stdout } = await execFileAsync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      env: { ...process.env, BENCH_SDK_INFERENCE_JOB: JSON.stringify(job) },
      maxBuffer: 64 * MiB,
    });
    const times = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<Kind, number[]>;
    const [plain, sdk, control] = [median(times.plain), median(times.sdk), median(times.control)];
    inference.plain.push(plain);
    inference.sdk.push(sdk);
    inferenceControl.sdk.push(control);
    perProcess.push(`${order.join('→')}: sdk ${fmt(sdk / plain, 3)}×, control ${fmt(control / plain, 3)}×`);
  }

  // What `model.run` itself costs: the same client code over a session that answers at once.
  const wrapper = await wrapperCost(primed, (dir) => createFerry({ serverUrl: base, appKey: appKey.key, appKeyId: appKey.id, trustedKeys: jwks, cache: { location: dir }, telemetry: false, runtime: instantRuntime() }));

  let missed = 0;
  const report = (name: string, m: { plain: number[]; sdk: number[] }, goal: number | null, digits = 1) => {
    if (!reportRatio(name, m.plain, m.sdk, goal, digits)) missed++;
  };
  console.log(`${ROUNDS} rounds after ${WARMUP} not counted; the very first (JIT-cold) cold load: plain ${fmt(firstRound.plain, 1)} ms, sdk ${fmt(firstRound.sdk, 1)} ms`);
  report('cold', cold, TARGETS.cold);
  report('cold, until cached', coldCached, null);
  report('warm (vs fetch)', warm, TARGETS.warm);
  report('warm vs readFile', warmFile, null);
  console.log(`inference: medians of ${RUNS} runs of each session in each of ${INFERENCE_PROCESSES} processes (sessions made in the order shown):`);
  for (const line of perProcess) console.log(`  ${line}`);
  report('inference', inference, TARGETS.inference, 3);
  report('inference, control', inferenceControl, null, 3);
  console.log(`model.run's own cost (over a session that answers at once, ${WRAPPER_CALLS} calls × ${WRAPPER_REPEATS}): ${fmt(wrapper.direct, 0)} ns a call to the session, ${fmt(wrapper.model, 0)} ns through model.run (+${fmt(wrapper.model - wrapper.direct, 0)} ns, ${fmt(((wrapper.model - wrapper.direct) / 1e6 / median(inference.plain)) * 100, 3)} % of a run)`);
  const f = (what: string) => fmt(median(faultsOf.get(what) ?? [0]), 0);
  console.log(`page faults per load (medians): cold plain ${f('cold plain')}, sdk ${f('cold sdk')}; warm plain ${f('warm plain')}, sdk ${f('warm sdk')}`);
  if (missed) process.exitCode = 1;
});
