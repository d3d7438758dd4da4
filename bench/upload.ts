/**
 * Upload benchmark: streams a large generated body (BENCH_UPLOAD_MB, default 1024) into a Ferry
 * server running in a child process and reports
 *   - upload throughput (median of BENCH_UPLOAD_ROUNDS uploads, default 2) as a ratio of this disk's raw write throughput, measured in the same run
 *     by piping the same generated stream to a file with node fs (+ fsync, as Ferry does);
 *   - the server's peak RSS growth over its idle RSS just before the upload (VmRSS sampled every
 *     50 ms in a worker thread; the worst upload is reported).
 * Target: RSS growth well under 200 MB (streamed, never buffered).
 *
 *   node --conditions=@ferry/source --import tsx bench/upload.ts
 */
import { createWriteStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  MiB,
  createModel,
  envInt,
  fmt,
  generatedStream,
  makeTempDir,
  mbps,
  median,
  rssOf,
  sampleRss,
  startFerryChild,
  uploadGenerated,
  withCleanup,
} from './lib.js';

const UPLOAD_MB = envInt('BENCH_UPLOAD_MB', 1024);
const ROUNDS = envInt('BENCH_UPLOAD_ROUNDS', 2);
const RSS_TARGET_MB = envInt('BENCH_RSS_TARGET_MB', 200);
const BYTES = UPLOAD_MB * MiB;

/** Raw disk write: the same generated stream to a file, fsync'd; returns milliseconds. */
async function diskWrite(dir: string): Promise<number> {
  const path = join(dir, 'disk-baseline.bin');
  const t0 = performance.now();
  await pipeline(generatedStream(BYTES), createWriteStream(path, { highWaterMark: MiB }));
  const handle = await open(path, 'r+');
  await handle.sync();
  await handle.close();
  const ms = performance.now() - t0;
  await unlink(path);
  return ms;
}

await withCleanup(async (defer) => {
  // Temp dirs live on the same file system as os.tmpdir(): the disk baseline and Ferry's
  // data dir write to the same device.
  const tmp = await makeTempDir('ferry-bench-upload-');
  defer(tmp.remove);
  const dataDir = join(tmp.path, 'data');

  console.log(`upload benchmark: ${UPLOAD_MB} MiB × ${ROUNDS} uploads, server in a child process`);
  const ferry = await startFerryChild(dataDir);
  defer(ferry.stop);
  await createModel(ferry.port, 'bench-upload');

  // Warm-up: load the upload code path once so the idle RSS includes it.
  await uploadGenerated(ferry.port, 'bench-upload', 4 * MiB);

  /** Median VmRSS over ~0.5 s of an idle server. */
  const idleRss = async (): Promise<number> => {
    const values: number[] = [];
    for (let i = 0; i < 10; i++) {
      const rss = await rssOf(ferry.pid);
      if (rss !== null) values.push(rss);
      await new Promise((r) => setTimeout(r, 50));
    }
    return median(values);
  };

  // Interleave: disk, ferry, disk, ferry, …, disk; throughputs are compared by their medians.
  const diskMs: number[] = [];
  const uploadMs: number[] = [];
  let growth = 0;
  let idle = 0;
  let peak = 0;
  let samples = 0;
  let maxGapMs = 0;
  const disk = async (): Promise<void> => {
    const ms = await diskWrite(tmp.path);
    diskMs.push(ms);
    console.log(`  disk write (node fs → file + fsync):               ${fmt(mbps(BYTES, ms))} MiB/s`);
  };
  for (let round = 0; round < ROUNDS; round++) {
    await disk();
    // The idle RSS right before each upload: a fixed start-up figure would hide growth behind
    // start-up garbage the server collects later (seen: -350 MiB during an upload).
    const before = await idleRss();
    const sampler = sampleRss(ferry.pid, 50);
    const t0 = performance.now();
    await uploadGenerated(ferry.port, 'bench-upload', BYTES);
    const ms = performance.now() - t0;
    const rss = await sampler.stop();
    uploadMs.push(ms);
    if (rss.peak - before >= growth) {
      growth = rss.peak - before;
      idle = before;
      peak = rss.peak;
    }
    samples += rss.samples;
    maxGapMs = Math.max(maxGapMs, rss.maxGapMs);
    console.log(
      `  ferry upload (HTTP → spool + sha256 + fsync + DB): ${fmt(mbps(BYTES, ms))} MiB/s, RSS ${fmt(before / MiB)} → peak ${fmt(rss.peak / MiB)} MiB`,
    );
  }
  await disk();

  const diskMedian = median(diskMs);
  const uploadMedian = median(uploadMs);
  const ratio = diskMedian / uploadMedian;
  const growthMB = growth / MiB;
  const pass = growthMB < RSS_TARGET_MB;

  console.log('');
  console.log(`upload throughput (median): ${fmt(mbps(BYTES, uploadMedian))} MiB/s = ${fmt(ratio, 2)}× raw disk write (median ${fmt(mbps(BYTES, diskMedian))} MiB/s)`);
  console.log(
    `server RSS (worst upload): idle ${fmt(idle / MiB)} MiB, peak ${fmt(peak / MiB)} MiB, growth ${fmt(growthMB)} MiB ` +
      `(${samples} samples, max gap ${fmt(maxGapMs, 0)} ms)`,
  );
  console.log(`${pass ? 'PASS' : 'FAIL'}: RSS growth ${fmt(growthMB)} MiB ${pass ? '<' : '>='} target ${RSS_TARGET_MB} MiB`);
  if (!pass) process.exitCode = 1;
});
