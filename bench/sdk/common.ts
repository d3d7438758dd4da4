// What the SDK load benchmarks (load.ts, browser-load.ts) share: the server and the model they
// serve, the targets, and how a ratio is reported.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildMlp } from '@ferry/compress/testing';
import { adminHeaders, createModel, fmt, http, median, quantile, startFerryChild, type FerryChild } from '../lib.js';
import { limitedLink } from '../link.js';

export const BENCH_MODEL = 'bench-sdk';

/**
 * The Ferry server of a bench run, in a child process under `dir`, with no background variant
 * builds (both sides load the same fp32 bytes, and no job takes CPU mid-run). With
 * BENCH_SDK_LINK (`100mbit`, …; root and iproute2) it sits behind a link of that bandwidth
 * (bench/link.ts) instead of on loopback. `where` says which, for the report.
 */
export async function startBenchServer(dir: string, defer: (cleanup: () => Promise<void> | void) => void): Promise<FerryChild & { where: string }> {
  const rate = process.env.BENCH_SDK_LINK ?? '';
  const link = rate ? await limitedLink(rate) : null;
  if (link) defer(link.remove);
  const place = link ? { host: link.host, wrap: link.wrap } : undefined;
  const server = await startFerryChild(join(dir, 'ferry'), { FERRY_JOB_CONCURRENCY: '0' }, [], place);
  defer(server.stop);
  return { ...server, where: link ? `behind a ${rate} link (${link.host})` : 'on loopback' };
}

export interface PublishedBenchModel {
  bytes: Uint8Array;
  sha256: string;
  appKey: { id: string; key: string };
  jwks: { keys: Record<string, unknown>[] };
}

/** Uploads an MLP 784-`hidden`-`hidden`-10 (~7 MiB for 1024) as `bench-sdk` v1, published to everyone. */
export async function publishBenchModel(port: number, hidden: number, host?: string): Promise<PublishedBenchModel> {
  const bytes = buildMlp({ inputSize: 784, hidden: [hidden, hidden], outputs: 10, seed: 7 });
  await createModel(port, BENCH_MODEL, host);
  const uploaded = await http(port, 'POST', `/v1/projects/default/models/${BENCH_MODEL}/versions`, {
    host,
    headers: { ...adminHeaders, 'content-type': 'application/octet-stream' },
    body: Buffer.from(bytes),
  });
  if (uploaded.status !== 201) throw new Error(`upload: ${uploaded.status} ${uploaded.body}`);
  const { version, sha256 } = JSON.parse(uploaded.body) as { version: number; sha256: string };
  const rollout = await http(port, 'POST', `/v1/projects/default/models/${BENCH_MODEL}/rollouts`, {
    host,
    headers: { ...adminHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ version, stages: [100] }),
  });
  if (rollout.status !== 201) throw new Error(`rollout: ${rollout.status} ${rollout.body}`);
  const keys = JSON.parse((await http(port, 'GET', '/v1/projects/default/app-keys', { host, headers: adminHeaders })).body) as {
    appKeys: { id: string; key: string }[];
  };
  const jwks = JSON.parse((await http(port, 'GET', '/v1/keys', { host })).body) as { keys: Record<string, unknown>[] };
  return { bytes, sha256, appKey: keys.appKeys[0]!, jwks };
}

const target = (name: string, fallback: number) => Number(process.env[`BENCH_SDK_${name}_TARGET`] ?? fallback);
/** Issue 5's targets (BENCH_SDK_COLD_TARGET, … to change): SDK / baseline, medians. */
export const TARGETS = { cold: target('COLD', 1.2), warm: target('WARM', 1.1), inference: target('INFERENCE', 1.02) };

/** Bootstrap resamples behind each confidence interval. */
const BOOTSTRAP_RESAMPLES = 4000;

/**
 * A 90 % confidence interval of median(sdk) / median(plain) by the percentile bootstrap over
 * rounds (pairs resampled together, so that a round both sides had slow stays one round). Seeded:
 * the same lists give the same interval.
 */
export function ratioInterval(plain: number[], sdk: number[], seed = 1): [number, number] {
  let state = seed >>> 0;
  // mulberry32: enough for resampling indices, and repeatable.
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = plain.length;
  const ratios: number[] = [];
  const p = new Array<number>(n);
  const s = new Array<number>(n);
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(random() * n);
      p[i] = plain[k]!;
      s[i] = sdk[k]!;
    }
    ratios.push(median(s) / median(p));
  }
  return [quantile(ratios, 0.05), quantile(ratios, 0.95)];
}

/**
 * Prints the medians of `plain` and `sdk` and their ratio against `goal`; false when it is missed.
 * The target is judged on that ratio of medians. When the two lists are paired by round (same
 * length, same order), two lines follow to show how far one run's figure can be trusted on a
 * noisy machine: the ratio's 90 % confidence interval (bootstrap over rounds) with what it says
 * of the target (shown met: the whole interval is within it; not shown: the ratio is, the
 * interval reaches past it), and the spread of the per-round ratios (median, middle half).
 */
export function reportRatio(name: string, plain: number[], sdk: number[], goal: number | null, digits = 1): boolean {
  const [p, s] = [median(plain), median(sdk)];
  const ratio = s / p;
  const ok = goal === null || ratio <= goal;
  const verdict = goal === null ? '(no target)' : `(target ≤ ${goal}×) ${ok ? 'ok' : 'MISSED'}`;
  console.log(`${name.padEnd(22)} plain ${fmt(p, digits)} ms, sdk ${fmt(s, digits)} ms (${s >= p ? '+' : ''}${fmt(s - p, digits)} ms) → ${fmt(ratio, 2)}× ${verdict}`);
  if (plain.length === sdk.length && plain.length >= 4) {
    const [lo, hi] = ratioInterval(plain, sdk);
    const shown = goal === null ? '' : hi <= goal ? ': target shown met' : lo > goal ? ': target shown missed' : ': target neither shown met nor missed';
    console.log(`${''.padEnd(22)} 90 % interval of the ratio ${fmt(lo, 2)}–${fmt(hi, 2)}×${shown}`);
    const perRound = sdk.map((v, i) => v / plain[i]!);
    console.log(`${''.padEnd(22)} per round: median ${fmt(median(perRound), 2)}×, middle half ${fmt(quantile(perRound, 0.25), 2)}–${fmt(quantile(perRound, 0.75), 2)}× (${perRound.length} rounds)`);
  }
  return ok;
}

/**
 * glibc's settings under which freed memory stays with the process: big buffers come from its heap
 * (not a fresh mmap each) and are not handed back to the OS. On these VMs memory handed back is
 * reported to the host (virtio-balloon free page reporting), and touching it again costs ~12 µs a
 * page: a 7 MiB buffer on fresh pages ~20 ms, as much as a whole load. Which side of a round paid
 * that depended on when V8 and glibc freed the last load's buffers; with these settings both sides
 * reuse their memory.
 */
const KEEP_FREED = { MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(4 * 1024 ** 3) };

/**
 * Runs this script again with {@link KEEP_FREED} (glibc reads them at start-up; the server child
 * inherits them too) and exits with its status, unless they are set or BENCH_SDK_MALLOC=default.
 * Returns what the process runs with, for the report.
 */
export function keepFreedMemory(): string {
  if (process.env.BENCH_SDK_MALLOC !== 'default' && process.env.MALLOC_TRIM_THRESHOLD_ === undefined) {
    const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...KEEP_FREED } });
    process.exit(again.status ?? 1);
  }
  return process.env.MALLOC_TRIM_THRESHOLD_ === undefined ? "glibc's default" : `glibc keeps freed memory (MALLOC_TRIM_THRESHOLD_=${process.env.MALLOC_TRIM_THRESHOLD_})`;
}
