/**
 * The SDK's load in Chromium (Debian's /usr/bin/chromium through playwright-core), against the
 * same baseline as load.ts measured in the same page and run: plain `fetch` of the artifact +
 * onnxruntime-web `InferenceSession.create` + one run. A Ferry server in a child process
 * (bench/lib.ts, background jobs off) serves a real ~7 MiB ONNX MLP; the page and the device
 * API share one origin (examples/web/serve.mjs), as in the web example.
 *
 * - cold: a new client on a cache namespace never used, `getModel('latest')` (resolve,
 *   signature, release check, download hashed while it streams, session, warm-up run); printed
 *   also until the cache is written.
 * - warm: a new client on a primed namespace, `getModel('local')` (manifest and bytes verified
 *   again, session, warm-up run) against the same plain fetch + create.
 *
 * BENCH_SDK_ROUNDS (15) counted rounds after BENCH_SDK_WARMUP (3); BENCH_SDK_STORAGE=indexeddb
 * to measure IndexedDB instead of OPFS; BENCH_SDK_LINK=100mbit (root and iproute2) puts the Ferry
 * server behind a link of that bandwidth from the page's origin (bench/link.ts). Targets as in
 * load.ts (cold ≤ 1.2×, warm ≤ 1.1×); exit code 1 when one is missed.
 *
 *   node --conditions=@ferry/source --import tsx bench/sdk/browser-load.ts
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { MiB, REPO_ROOT, envInt, fmt, makeTempDir, withCleanup } from '../lib.js';
import { TARGETS, publishBenchModel, reportRatio, startBenchServer } from './common.js';

const CHROMIUM = process.env.BENCH_CHROMIUM ?? '/usr/bin/chromium';
const HIDDEN = envInt('BENCH_SDK_HIDDEN', 1024);
const ROUNDS = envInt('BENCH_SDK_ROUNDS', 15);
const WARMUP = envInt('BENCH_SDK_WARMUP', 3);
const STORAGE = process.env.BENCH_SDK_STORAGE === 'indexeddb' ? 'indexeddb' : undefined;
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.jsep.mjs'];

if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} not found: apt-get install -y chromium (or set BENCH_CHROMIUM)`);
  process.exit(2);
}

interface SdkResult {
  ms: number;
  untilCached: number;
  source: string;
  storage: string;
}
type BenchWindow = {
  bench: {
    init(s: unknown): void;
    plain(): Promise<number>;
    sdk(namespace: string, policy: 'latest' | 'local'): Promise<SdkResult>;
  };
};

let missed = 0;

await withCleanup(async (defer) => {
  const tmp = await makeTempDir('ferry-bench-browser-');
  defer(tmp.remove);
  const server = await startBenchServer(tmp.path, defer);
  const { port } = server;

  const { bytes, sha256, appKey, jwks } = await publishBenchModel(port, HIDDEN, server.host);

  // The page: the bench bundle, ONNX Runtime's wasm, an index.html.
  const site = join(tmp.path, 'site');
  await mkdir(join(site, 'ort'), { recursive: true });
  await build({
    entryPoints: [join(REPO_ROOT, 'bench', 'sdk', 'browser-page.ts')],
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2022',
    conditions: ['@ferry/source'],
    minify: true,
    outdir: site,
    logLevel: 'warning',
  });
  const ortDist = join(REPO_ROOT, 'node_modules', 'onnxruntime-web', 'dist');
  await Promise.all(ORT_FILES.map((f) => copyFile(join(ortDist, f), join(site, 'ort', f))));
  await writeFile(join(site, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./browser-page.js"></script>');
  const { serveExample } = (await import(join(REPO_ROOT, 'examples', 'web', 'serve.mjs'))) as {
    serveExample(o: { dir: string; ferry: string }): Promise<{ url: string; close(): Promise<void> }>;
  };
  const web = await serveExample({ dir: site, ferry: `http://${server.host}:${port}` });
  defer(web.close);

  const profile = await makeTempDir('ferry-bench-chromium-');
  defer(profile.remove);
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  defer(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${web.url}/index.html`);
  await page.waitForFunction(() => 'bench' in window);
  await page.evaluate(
    (s) => (window as unknown as BenchWindow).bench.init(s),
    {
      config: { appKey: appKey.key, appKeyId: appKey.id, trustedKeys: jwks },
      artifact: `${web.url}/v1/artifacts/${sha256}`,
      wasmPaths: `${web.url}/ort/`,
      ...(STORAGE ? { storage: STORAGE } : {}),
    },
  );
  const browserVersion = context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent));
  console.log(`Chromium ${browserVersion}; model: ${fmt(bytes.byteLength / MiB, 2)} MiB MLP 784-${HIDDEN}-${HIDDEN}-10; ${ROUNDS} rounds after ${WARMUP} not counted; server ${server.where}`);

  // Artifacts are served `immutable`: without this, Chromium's HTTP cache would answer the SDK's
  // downloads from the second round on (the baseline fetches with `cache: 'no-store'`), and a cold
  // load would not be one. Cleared before every load, for both sides.
  const cdp = await context.newCDPSession(page);
  const clearHttpCache = () => cdp.send('Network.clearBrowserCache');
  const plain = async () => {
    await clearHttpCache();
    return page.evaluate(() => (window as unknown as BenchWindow).bench.plain());
  };
  const sdk = async (namespace: string, policy: 'latest' | 'local') => {
    await clearHttpCache();
    return page.evaluate(([n, p]) => (window as unknown as BenchWindow).bench.sdk(n, p), [namespace, policy] as const);
  };

  const cold = { plain: [] as number[], sdk: [] as number[], cached: [] as number[] };
  let primed = '';
  let storage = '';
  let first: { plain: number; sdk: number } | null = null;
  // Each round runs the baseline and the SDK, alternating which goes first: the baseline in the
  // very first round, which pays for compiling ONNX Runtime's wasm.
  const round = async (r: number, policy: 'latest' | 'local', namespace: string): Promise<[number, SdkResult]> => {
    if ((r + WARMUP) % 2 === 0) {
      const p = await plain();
      return [p, await sdk(namespace, policy)];
    }
    const s = await sdk(namespace, policy);
    return [await plain(), s];
  };
  for (let r = -WARMUP; r < ROUNDS; r++) {
    const namespace = `cold-${r + WARMUP}`;
    const [p, s] = await round(r, 'latest', namespace);
    if (s.source !== 'network') throw new Error(`cold load came from ${s.source}`);
    first ??= { plain: p, sdk: s.ms };
    primed = namespace;
    storage = s.storage;
    if (r < 0) continue;
    cold.plain.push(p);
    cold.sdk.push(s.ms);
    cold.cached.push(s.untilCached);
  }
  const warm = { plain: [] as number[], sdk: [] as number[] };
  for (let r = -WARMUP; r < ROUNDS; r++) {
    const [plainMs, sdkRes] = await round(r, 'local', primed);
    if (sdkRes.source !== 'cache') throw new Error(`warm load came from ${sdkRes.source}`);
    if (r < 0) continue;
    warm.plain.push(plainMs);
    warm.sdk.push(sdkRes.ms);
  }

  console.log(`cache: ${storage}; the very first (JIT-cold) cold load: plain ${fmt(first!.plain, 1)} ms, sdk ${fmt(first!.sdk, 1)} ms`);
  const report = (name: string, plainMs: number[], sdkMs: number[], goal: number | null) => {
    if (!reportRatio(name, plainMs, sdkMs, goal)) missed++;
  };
  report('cold', cold.plain, cold.sdk, TARGETS.cold);
  report('cold, until cached', cold.plain, cold.cached, null);
  report('warm (vs fetch)', warm.plain, warm.sdk, TARGETS.warm);
});

process.exit(missed ? 1 : 0);
