// The browser SDK and the web example in Chromium (playwright-core, /usr/bin/chromium) against a
// real Ferry server, with the page and the device API on one origin (examples/web/serve.mjs).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnistDigits } from '@ferry/compress/testing';
import { FaultyProxy } from '../testing/http-proxy.js';
import { startRealFerry, startS3, type RealFerry } from '../testing/real-server.js';

const CHROMIUM = '/usr/bin/chromium';
/** WebGPU without a GPU: Chromium's SwiftShader Vulkan (shipped in Debian's package) as the adapter. */
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface'];
/** The bucket's CORS rule for browsers downloading from it (README.md, FERRY_ARTIFACT_DELIVERY=redirect). */
const BUCKET_CORS = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedHeader>x-ferry-app-key</AllowedHeader>
    <AllowedHeader>range</AllowedHeader>
    <AllowedHeader>if-range</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <ExposeHeader>Content-Range</ExposeHeader>
    <MaxAgeSeconds>86400</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..', '..');
const example = join(repo, 'examples', 'web');
const results = join(repo, 'test-results');

interface ExampleModule {
  buildExample(options: { outDir: string; minify?: boolean }): Promise<unknown>;
}
interface ServeModule {
  serveExample(options: { dir: string; ferry: string; port?: number }): Promise<{ url: string; close(): Promise<void> }>;
}
interface PublishModule {
  trainDigits(): { bytes: Uint8Array; accuracy: number };
  publishDigits(options: { ferry: string; token: string; model?: string; bytes?: Uint8Array }): Promise<{ appKey: string; appKeyId: string; model: string }>;
}
// Loaded by path: the example is not part of the SDK's typecheck.
const load = <T>(path: string) => import(/* @vite-ignore */ join(example, path)) as Promise<T>;

let ferry: RealFerry;
let dist: string;
let profile: string;
let site: { url: string; close(): Promise<void> };
let context: BrowserContext;
let page: Page;
const digits = loadMnistDigits().test;

/** Paints MNIST test digit `i` onto the example's pad, black on white, 10× larger. */
async function drawDigit(p: Page, i: number): Promise<number> {
  const pixels = Array.from(digits.images.subarray(i * 784, (i + 1) * 784));
  await p.evaluate((px) => {
    const pad = document.getElementById('pad') as HTMLCanvasElement;
    const ctx = pad.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, 280, 280);
    px.forEach((v, k) => {
      if (v <= 0) return;
      const g = Math.round(255 * (1 - v));
      ctx.fillStyle = `rgb(${g},${g},${g})`;
      ctx.fillRect((k % 28) * 10, Math.floor(k / 28) * 10, 10, 10);
    });
  }, pixels);
  return digits.labels[i]!;
}

async function classifyDrawn(p: Page): Promise<string> {
  return p.evaluate(async () => {
    const w = window as unknown as { ferryExample: { classify(): Promise<void>; state: { results?: { label: string }[] } } };
    await w.ferryExample.classify();
    return w.ferryExample.state.results![0]!.label;
  });
}

async function exampleState(p: Page) {
  await p.waitForFunction(() => {
    const phase = (window as unknown as { ferryExample?: { state: { phase: string } } }).ferryExample?.state.phase;
    return phase === 'ready' || phase === 'error';
  }, undefined, { timeout: 60_000 });
  return p.evaluate(() => (window as unknown as { ferryExample: { state: unknown } }).ferryExample.state) as Promise<{
    phase: string;
    error?: string;
    storage?: string;
    progress: { bytes: number; total: number; rate: number }[];
    model?: { version: number; backend: string; source: string; stale: boolean; failures: number };
  }>;
}

async function accuracy(p: Page, count: number): Promise<number> {
  let right = 0;
  for (let i = 0; i < count; i++) {
    const label = await drawDigit(p, i);
    if ((await classifyDrawn(p)) === String(label)) right++;
  }
  return right / count;
}

const available = existsSync(CHROMIUM);
// Without Chromium (a laptop without Debian's package) these tests are skipped; CI installs it and
// sets FERRY_REQUIRE_BROWSER so that a missing browser fails the run instead of skipping it.
if (!available && process.env.FERRY_REQUIRE_BROWSER) throw new Error(`${CHROMIUM} is required (FERRY_REQUIRE_BROWSER is set)`);

/** A new page with the SDK harness (window.harness) loaded. */
async function openHarness(): Promise<Page> {
  const harness = await context.newPage();
  await harness.goto(`${site.url}/harness/index.html`);
  await harness.waitForFunction(() => 'harness' in window);
  return harness;
}

describe.skipIf(!available)('in Chromium against a real server', () => {
  beforeAll(async () => {
    ferry = await startRealFerry();
    const { publishDigits, trainDigits } = await load<PublishModule>('scripts/publish-model.ts');
    const { bytes } = trainDigits();
    const token = ferry.server.admin.authorization.replace(/^Bearer /, '');
    const published = await publishDigits({ ferry: ferry.url, token, bytes });
    dist = await mkdtemp(join(tmpdir(), 'ferry-example-'));
    await (await load<ExampleModule>('build.mjs')).buildExample({ outDir: dist });
    await writeFile(join(dist, 'config.json'), JSON.stringify({ appKey: published.appKey, appKeyId: published.appKeyId, jwks: ferry.jwks, model: published.model }));
    await build({
      entryPoints: [join(here, 'browser-harness.ts'), join(here, 'browser-worker.ts')],
      bundle: true,
      format: 'esm',
      splitting: true,
      platform: 'browser',
      conditions: ['@ferry/source'],
      outdir: join(dist, 'harness'),
      logLevel: 'warning',
    });
    await writeFile(join(dist, 'harness', 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./browser-harness.js"></script>');
    site = await (await load<ServeModule>('serve.mjs')).serveExample({ dir: dist, ferry: ferry.url });
    profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => console.error('page error:', err));
    await mkdir(results, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await site?.close();
    await ferry?.close();
    for (const d of [dist, profile]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('example: downloads the model with progress, caches it in OPFS, classifies drawn digits', async () => {
    await page.goto(site.url);
    const state = await exampleState(page);
    expect(state.error).toBeUndefined();
    expect(state.model).toMatchObject({ version: 1, source: 'network', stale: false });
    expect(state.storage).toBe('opfs');
    expect(state.progress.length).toBeGreaterThan(0);
    const last = state.progress.at(-1)!;
    expect(last.bytes).toBe(last.total);
    expect(await page.locator('#status').textContent()).toMatch(/^Ready/);
    expect(await accuracy(page, 20)).toBeGreaterThanOrEqual(0.8);

    // A digit drawn with the mouse, as a person would.
    await page.click('#clear');
    const box = (await page.locator('#pad').boundingBox())!;
    await page.mouse.move(box.x + 140, box.y + 50);
    await page.mouse.down();
    for (let y = 50; y <= 230; y += 10) await page.mouse.move(box.x + 140 + (y - 50) / 30, box.y + y);
    await page.mouse.up();
    await page.waitForFunction(() => ((window as unknown as { ferryExample: { state: { results?: unknown[] } } }).ferryExample.state.results?.length ?? 0) > 0);
    expect(await page.locator('#results li').first().textContent()).toMatch(/^1 · /);
    await page.screenshot({ path: join(results, 'sdk-web-example.png') });
  });

  it('SDK in the page: probes capabilities once, runs tensors, keeps models in IndexedDB when asked', async () => {
    const harness = await openHarness();
    const out = await harness.evaluate(
      async ({ config, wasmPaths }) => {
        const make = () =>
          // This ORT build has no WebGL: claiming it anyway makes the first candidate fail, as a broken GPU would.
          window.harness.createFerry({ ...config, storage: 'indexeddb', cache: { namespace: 'idb-test' }, ort: { wasmPaths, backends: ['webgl', 'wasm'] }, telemetry: false });
        const ferry = make();
        const caps = await ferry.capabilities();
        const progress: number[] = [];
        const model = await ferry.getModel('digits', { policy: 'latest', onProgress: (p) => progress.push(p.bytes) });
        const input = new Float32Array(784);
        const outputs = await model.run({ input: { type: 'float32', data: input, dims: [1, 784] } });
        const info = await ferry.cacheInfo();
        const again = await make().getModel('digits', { policy: 'local' });
        return {
          caps: { ...caps, frozen: Object.isFrozen(caps) && Object.isFrozen(caps.backends) },
          progress: progress.length,
          logits: Array.from(outputs.logits!.data as Float32Array).length,
          info,
          backend: model.backend,
          failures: model.failures,
          againSource: again.source,
        };
      },
      { config: { serverUrl: site.url, appKey: (await readConfig()).appKey, appKeyId: (await readConfig()).appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` },
    );
    expect(out.caps).toMatchObject({ platform: 'web', formats: ['onnx'], frozen: true, crossOriginIsolated: true });
    expect(out.caps.backends).toContain('wasm');
    expect(out.caps.features).toEqual(expect.arrayContaining(['wasm-simd', 'wasm-threads']));
    expect(out.progress).toBeGreaterThan(0);
    expect(out.logits).toBe(10);
    expect(out.info.kind).toBe('indexeddb');
    expect(out.info.usedBytes).toBeGreaterThan(0);
    expect(out.againSource).toBe('cache');
    expect(out.caps.backends).toContain('webgl');
    expect(out.backend).toBe('wasm');
    expect(out.failures).toEqual([{ variant: 'original', backend: 'webgl', reason: expect.stringMatching(/webgl/) }]);
    await harness.close();
  });

  it('SDK in a dedicated worker: downloads, caches in OPFS, classifies an ImageBitmap, sends telemetry; a second worker starts from the cache', async () => {
    const harness = await openHarness();
    const config = await readConfig();
    const i = 3;
    const digit = Array.from(digits.images.subarray(i * 784, (i + 1) * 784));
    const inWorker = (policy: 'latest' | 'local') =>
      harness.evaluate(
        (job) =>
          new Promise<Record<string, unknown>>((resolve) => {
            const worker = new Worker('./browser-worker.js', { type: 'module' });
            const done = (answer: Record<string, unknown>) => {
              worker.terminate();
              resolve(answer);
            };
            worker.onmessage = (event: MessageEvent<Record<string, unknown>>) => done(event.data);
            worker.onerror = (event) => done({ error: `worker failed: ${event.message}` });
            worker.postMessage(job);
          }),
        {
          config: { serverUrl: site.url, appKey: config.appKey, trustedKeys: ferry.jwks },
          wasmPaths: `${site.url}/ort/`,
          namespace: 'worker-test',
          policy,
          digit,
        },
      );
    const first = await inWorker('latest');
    expect(first).toMatchObject({ source: 'network', storage: 'opfs', backend: 'wasm', label: String(digits.labels[i]), hasDocument: false });
    expect(first.progress).toEqual(expect.any(Number));
    expect(first.progress).toBeGreaterThan(0);
    // Its telemetry reached the server: the load, under the install id its resolve sent.
    expect(first.installId).toEqual(expect.any(String));
    const loads = await ferry.server.app.db.prisma.telemetryEvent.findMany({ where: { deviceId: first.installId as string, type: 'load' } });
    expect(loads).toHaveLength(1);
    expect(loads[0]).toMatchObject({ model: 'digits', platform: 'web', backend: 'wasm' });

    const second = await inWorker('local');
    expect(second).toMatchObject({ source: 'cache', storage: 'opfs', backend: 'wasm', label: String(digits.labels[i]) });
    await harness.close();
  });

  it('SDK in the page: makes no WebGL context when the ONNX Runtime build has no WebGL (the default)', async () => {
    const harness = await openHarness();
    const out = await harness.evaluate(async ({ wasmPaths }) => {
      const contexts: string[] = [];
      for (const proto of [HTMLCanvasElement.prototype, OffscreenCanvas.prototype] as { getContext: (...a: unknown[]) => unknown }[]) {
        const original = proto.getContext;
        proto.getContext = function (this: unknown, ...args: unknown[]) {
          contexts.push(String(args[0]));
          return original.apply(this, args);
        };
      }
      const options = { serverUrl: location.origin, appKey: 'fry_ak_unused', trustedKeys: { keys: [] }, telemetry: false as const };
      const plain = await window.harness.createFerry({ ...options, ort: { wasmPaths } }).capabilities();
      const before = contexts.length;
      const withWebgl = await window.harness.createFerry({ ...options, ort: { wasmPaths, backends: ['webgl', 'wasm'] } }).capabilities();
      return { plain: plain.backends, contextsWithout: before, withWebgl: withWebgl.backends, contextsWith: contexts.length - before };
    }, { wasmPaths: `${site.url}/ort/` });
    expect(out.contextsWithout).toBe(0);
    expect(out.plain).not.toContain('webgl');
    expect(out.plain).toContain('wasm');
    expect(out.contextsWith).toBe(1);
    expect(out.withWebgl).toContain('webgl');
    await harness.close();
  });

  it('SDK in the page: a downloaded model is kept once, in the SDK cache, not also in the HTTP cache', async () => {
    const harness = await openHarness();
    const config = await readConfig();
    const out = await harness.evaluate(
      async ({ config, wasmPaths }) => {
        const urls: string[] = [];
        const recording: typeof fetch = (input, init) => {
          urls.push(input instanceof Request ? input.url : String(input));
          return fetch(input, init);
        };
        const ferry = window.harness.createFerry({ ...config, fetch: recording, cache: { namespace: 'http-cache-test' }, ort: { wasmPaths }, telemetry: false });
        const model = await ferry.getModel('digits', { policy: 'latest' });
        await ferry.close();
        const artifact = urls.find((u) => u.includes(model.sha256))!;
        const headers = { 'x-ferry-app-key': config.appKey };
        // Answered only from the HTTP cache: a network error when the artifact is not in it.
        const cached = () =>
          fetch(artifact, { cache: 'only-if-cached', mode: 'same-origin', headers }).then(
            (r) => r.ok,
            () => false,
          );
        const afterSdk = await cached();
        // The control: a plain fetch of the same URL does put it there, and the check sees it.
        await (await fetch(artifact, { headers })).arrayBuffer();
        const afterPlainFetch = await cached();
        return { source: model.source, artifact, afterSdk, afterPlainFetch };
      },
      { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` },
    );
    expect(out.source).toBe('network');
    expect(out.artifact).toContain('/v1/artifacts/');
    expect(out.afterSdk).toBe(false);
    expect(out.afterPlainFetch).toBe(true);
    await harness.close();
  });

  it('SDK in the page: a flipped OPFS cache file is discarded and fetched again', async () => {
    const harness = await openHarness();
    const config = await readConfig();
    const out = await harness.evaluate(
      async ({ config, wasmPaths }) => {
        const make = () => window.harness.createFerry({ ...config, cache: { namespace: 'flip-test' }, ort: { wasmPaths }, telemetry: false });
        // Each client is closed (its cache writes finished) before the next looks at the cache, as an app restart would.
        const firstClient = make();
        const first = await firstClient.getModel('digits', { policy: 'latest' });
        await firstClient.close();
        const dir = await (await (await (await navigator.storage.getDirectory()).getDirectoryHandle('ferry')).getDirectoryHandle('flip-test')).getDirectoryHandle('artifacts');
        const handle = await dir.getFileHandle(first.sha256);
        const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
        bytes[1000] = bytes[1000]! ^ 0xff;
        const w = await (handle as unknown as { createWritable(): Promise<{ write(b: Uint8Array): Promise<void>; close(): Promise<void> }> }).createWritable();
        await w.write(bytes);
        await w.close();
        const secondClient = make();
        const second = await secondClient.getModel('digits', { policy: 'local' });
        await secondClient.listCachedModels(); // the good bytes are written behind getModel
        const repaired = new Uint8Array(await (await handle.getFile()).arrayBuffer());
        return { first: first.source, second: second.source, repaired: repaired[1000] !== bytes[1000] };
      },
      { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` },
    );
    expect(out).toEqual({ first: 'network', second: 'network', repaired: true });
    await harness.close();
  });

  it('two tabs on one cache, each loading another model at the same moment: both models stay installed (Web Locks order their writes)', async () => {
    const { buildMlp } = await import('@ferry/compress/testing');
    for (const [name, seed] of [['tab-a', 51], ['tab-b', 52]] as const) {
      await ferry.createModel(name);
      await ferry.release(name, buildMlp({ inputSize: 16, hidden: [256], outputs: 4, seed }));
    }
    const config = await readConfig();
    const base = { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` };
    const tabs = [await openHarness(), await openHarness()] as const;
    const cached = (tab: Page, namespace: string, load?: string) =>
      tab.evaluate(
        async ({ config, wasmPaths, namespace, load }) => {
          const client = window.harness.createFerry({ ...config, cache: { namespace }, ort: { wasmPaths }, telemetry: false });
          if (load) await client.getModel(load, { policy: 'latest' });
          const names = (await client.listCachedModels()).map((m) => m.name).sort();
          await client.close();
          return names;
        },
        { ...base, namespace, load },
      );
    const rounds = 16;
    const seen: string[][] = [];
    for (let round = 0; round < rounds; round++) {
      const namespace = `two-tabs-${round}`;
      await Promise.all([cached(tabs[0], namespace, 'tab-a'), cached(tabs[1], namespace, 'tab-b')]);
      seen.push(await cached(tabs[0], namespace));
    }
    expect(seen).toEqual(Array.from({ length: rounds }, () => ['tab-a', 'tab-b']));
    for (const tab of tabs) await tab.close();
  });

  it('SDK in the page: a model of several blocks is checked block by block; a changed block is refused, the previous model still runs', async () => {
    const { buildMlp } = await import('@ferry/compress/testing');
    const { createHash } = await import('node:crypto');
    // ~1.1 MiB: two blocks of the manifest's list.
    const v1 = buildMlp({ inputSize: 16, hidden: [512, 512], outputs: 4, seed: 41 });
    const v2 = buildMlp({ inputSize: 16, hidden: [512, 512], outputs: 4, seed: 42 });
    await ferry.createModel('blocks');
    await ferry.release('blocks', v1);
    const harness = await openHarness();
    const config = await readConfig();
    const options = { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` };
    const load = (policy: 'latest' | 'local') =>
      harness.evaluate(
        async ({ config, wasmPaths, policy }) => {
          const client = window.harness.createFerry({ ...config, cache: { namespace: 'blocks-test' }, ort: { wasmPaths }, telemetry: false });
          try {
            const model = await client.getModel('blocks', { policy });
            const out = await model.run({ input: { type: 'float32', data: new Float32Array(16).fill(0.5), dims: [1, 16] } });
            const cached = (await client.listCachedModels()).map((m) => `${m.name}@${m.version}`);
            return { version: model.version, source: model.source, logits: Array.from(out.logits!.data as Float32Array), cached };
          } catch (err) {
            return { error: (err as { code?: string }).code, message: (err as Error).message };
          } finally {
            await client.close();
          }
        },
        { ...options, policy },
      );
    const first = await load('latest');
    expect(first).toMatchObject({ version: 1, source: 'network', cached: ['blocks@1'] });
    await ferry.release('blocks', v2);
    await ferry.tamperBlob(createHash('sha256').update(v2).digest('hex'));
    const refused = await load('latest');
    expect(refused).toMatchObject({ error: 'integrity_mismatch' });
    expect((refused as { message: string }).message).toMatch(/^block \d of the artifact/);
    expect(await load('local')).toMatchObject({ version: 1, source: 'cache', logits: (first as { logits: number[] }).logits });
    await harness.close();
  });

  it('SDK in the page: downloads from the S3 bucket Ferry redirects to (presigned URL), as the bucket’s CORS rule allows', async () => {
    const { buildMlp } = await import('@ferry/compress/testing');
    const ort = await import('onnxruntime-web');
    // The rule README.md gives for FERRY_ARTIFACT_DELIVERY=redirect.
    const s3 = await startS3({ cors: BUCKET_CORS });
    const objects = `/${s3.config.bucket}/`;
    const bucket = await new FaultyProxy(s3.config.endpoint, { isArtifact: (path) => path.startsWith(objects) }).start();
    const redirecting = await startRealFerry({ config: { s3: { ...s3.config, endpoint: bucket.url }, artifactDelivery: 'redirect' } });
    try {
      const bytes = buildMlp({ inputSize: 16, hidden: [64], outputs: 4, seed: 51 });
      await redirecting.createModel('redirected');
      await redirecting.release('redirected', bytes);
      bucket.requests.length = 0;
      const harness = await openHarness();
      const input = Array.from({ length: 16 }, (_, i) => (i - 8) / 8);
      const out = await harness.evaluate(
        async ({ config, wasmPaths, input }) => {
          const client = window.harness.createFerry({ ...config, cache: { namespace: 'redirect-test' }, ort: { wasmPaths }, telemetry: false });
          try {
            const model = await client.getModel('redirected', { policy: 'latest' });
            const out = await model.run({ input: { type: 'float32', data: Float32Array.from(input), dims: [1, 16] } });
            const cached = (await client.listCachedModels()).map((m) => `${m.name}@${m.version}`);
            return { source: model.source, logits: Array.from(out.logits!.data as Float32Array), cached };
          } catch (err) {
            return { error: (err as { code?: string }).code, message: (err as Error).message };
          } finally {
            await client.close();
          }
        },
        { config: { serverUrl: redirecting.url, appKey: redirecting.appKey, appKeyId: redirecting.appKeyId, trustedKeys: redirecting.jwks }, wasmPaths: `${site.url}/ort/`, input },
      );
      await harness.close();
      const session = await ort.InferenceSession.create(bytes);
      const want = await session.run({ input: new ort.Tensor('float32', Float32Array.from(input), [1, 16]) });
      await session.release();
      expect(out).toEqual({ source: 'network', logits: Array.from(want.logits!.data as Float32Array), cached: ['redirected@1'] });
      // The page's request to Ferry was answered with a redirect it followed to the bucket, preflight first.
      const toBucket = bucket.requests.filter((r) => r.path.startsWith(objects) && r.method !== 'PUT');
      expect(toBucket.map((r) => `${r.method} ${r.status}`)).toEqual(['OPTIONS 200', 'GET 200']);
      expect(toBucket[1]!.path).toMatch(/X-Amz-Signature=/);
      // Redirected from another origin than the page's, the request's origin is opaque: any origin must be allowed.
      expect(toBucket.map((r) => r.headers.origin)).toEqual(['null', 'null']);
    } finally {
      await redirecting.close();
      await bucket.stop();
      await s3.stop();
    }
  });

  describe('with WebGPU (SwiftShader, Chromium’s software Vulkan: no GPU needed)', () => {
    let gpuBrowser: Browser;
    beforeAll(async () => {
      gpuBrowser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...WEBGPU_FLAGS] });
    }, 60_000);
    afterAll(async () => {
      await gpuBrowser?.close();
    });

    it('SDK in the page: probes WebGPU, is offered the WebGPU candidate first, and runs the model with onnxruntime-web on WebGPU', async () => {
      const harness = await gpuBrowser.newPage();
      harness.on('pageerror', (err) => console.error('page error:', err));
      await harness.goto(`${site.url}/harness/index.html`);
      await harness.waitForFunction(() => 'harness' in window);
      const config = await readConfig();
      const out = await harness.evaluate(
        async ({ config, wasmPaths }) => {
          const run = async (backends?: string[]) => {
            const ferry = window.harness.createFerry({ ...config, cache: { namespace: `gpu-${backends?.join('-') ?? 'all'}` }, ort: { wasmPaths, ...(backends ? { backends } : {}) }, telemetry: false });
            try {
              const caps = await ferry.capabilities();
              const model = await ferry.getModel('digits', { policy: 'latest' });
              const input = Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13);
              const outputs = await model.run({ input: { type: 'float32', data: input, dims: [1, 784] } });
              return { backends: caps.backends, features: caps.features, backend: model.backend, failures: model.failures, logits: Array.from(outputs.logits!.data as Float32Array) };
            } finally {
              await ferry.close();
            }
          };
          // The same model on wasm only (the runtime told it has no WebGPU), to compare the outputs.
          return { gpu: await run(), wasm: await run(['wasm']) };
        },
        { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/` },
      );
      await harness.close();
      expect(out.gpu.backends).toContain('webgpu');
      // SwiftShader has no f16 shaders, and the probe says so (Ferry's fp16 variants need none: their IO stays fp32).
      expect(out.gpu.features).not.toContain('shader-f16');
      expect(out.gpu).toMatchObject({ backend: 'webgpu', failures: [] });
      expect(out.wasm.backend).toBe('wasm');
      expect(out.gpu.logits).toHaveLength(10);
      for (const [i, v] of out.gpu.logits.entries()) expect(v).toBeCloseTo(out.wasm.logits[i]!, 3);
    });

    // Five browser launches on one profile: ~30 s alone here, past 60 s beside another test run.
    it('a GPU that comes and goes (one browser profile, started with and without WebGPU): two downloads in all, each start on the best bytes it has, 304s', async () => {
      const { buildMlp } = await import('@ferry/compress/testing');
      // A model whose int8 variant is for wasm only: a device without WebGPU is offered it first, one with WebGPU the fp32 original.
      const name = 'gpu-comes-and-goes';
      await ferry.createModel(name);
      const version = await ferry.upload(name, buildMlp({ inputSize: 16, hidden: [32], outputs: 4, seed: 61 }));
      await ferry.attachVariant(name, version, 'kind=small-q8&format=onnx&backends=wasm&precision=int8', buildMlp({ inputSize: 16, hidden: [32], outputs: 4, seed: 62 }));
      await ferry.publish(name, version);
      const config = await readConfig();
      const deviceProfile = await mkdtemp(join(tmpdir(), 'ferry-chromium-gpu-'));
      /** One app start in a browser on the device's profile, with or without WebGPU: what it ran and what it asked of Ferry. */
      const start = async (gpu: boolean) => {
        const browser = await chromium.launchPersistentContext(deviceProfile, {
          executablePath: CHROMIUM,
          headless: true,
          args: ['--no-sandbox', ...(gpu ? WEBGPU_FLAGS : ['--disable-gpu'])],
        });
        try {
          const p = browser.pages()[0] ?? (await browser.newPage());
          await p.goto(`${site.url}/harness/index.html`);
          await p.waitForFunction(() => 'harness' in window);
          return await p.evaluate(
            async ({ config, wasmPaths, name }) => {
              const asked: string[] = [];
              const recording: typeof fetch = async (input, init) => {
                const url = input instanceof Request ? input.url : String(input);
                const res = await fetch(input, init);
                if (url.includes('/v1/resolve')) asked.push(`resolve ${res.status}`);
                if (url.includes('/v1/artifacts/')) asked.push(`artifact ${res.status}`);
                return res;
              };
              const ferry = window.harness.createFerry({ ...config, fetch: recording, cache: { namespace: 'comes-and-goes' }, ort: { wasmPaths }, telemetry: false });
              try {
                const model = await ferry.getModel(name);
                const update = await model.update;
                return { ran: `${model.variant}@${model.backend}`, source: model.source, updated: update?.updated, asked };
              } finally {
                await ferry.close();
              }
            },
            { config: { serverUrl: site.url, appKey: config.appKey, appKeyId: config.appKeyId, trustedKeys: ferry.jwks }, wasmPaths: `${site.url}/ort/`, name },
          );
        } finally {
          await browser.close();
        }
      };
      try {
        // First start, without WebGPU: int8 downloaded and run on wasm.
        expect(await start(false)).toMatchObject({ ran: 'small-q8@wasm', source: 'network', asked: ['resolve 200', 'artifact 200'] });
        // WebGPU appears: the cached int8 runs now, and the fp32 original for WebGPU is fetched for the next start.
        expect(await start(true)).toMatchObject({ ran: 'small-q8@wasm', source: 'cache', updated: true, asked: ['resolve 200', 'artifact 200'] });
        expect(await start(true)).toMatchObject({ ran: 'original@webgpu', source: 'cache', updated: false, asked: ['resolve 304'] });
        // Without WebGPU again: the int8 bytes kept as the fallback run, and Ferry answers 304 about them.
        expect(await start(false)).toMatchObject({ ran: 'small-q8@wasm', source: 'cache', updated: false, asked: ['resolve 304'] });
        expect(await start(true)).toMatchObject({ ran: 'original@webgpu', source: 'cache', updated: false, asked: ['resolve 304'] });
      } finally {
        await rm(deviceProfile, { recursive: true, force: true });
      }
    }, 120_000);
  });

  it('example: reloads offline, the page from its service worker and the model from OPFS', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const url = site.url;
    await site.close();
    await page.reload();
    const state = await exampleState(page);
    expect(state.error).toBeUndefined();
    // local-then-update: the cached model at once; the background update then finds no server.
    expect(state.model).toMatchObject({ version: 1, source: 'cache' });
    await page.waitForFunction(() => (window as unknown as { ferryExample: { state: { offline?: boolean } } }).ferryExample.state.offline === true);
    expect(await page.locator('#status').textContent()).toMatch(/^Offline/);
    expect(await accuracy(page, 10)).toBeGreaterThanOrEqual(0.8);
    await page.screenshot({ path: join(results, 'sdk-web-example-offline.png') });
    expect(page.url()).toBe(`${url}/`);
  });
});

async function readConfig(): Promise<{ appKey: string; appKeyId: string }> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(join(dist, 'config.json'), 'utf8')) as { appKey: string; appKeyId: string };
}
