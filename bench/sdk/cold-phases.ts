/**
 * Where a cold load's time goes, in Node: a diagnostic, not a target (load.ts judges the targets).
 * Against the same server and model as load.ts, each round makes a client on a new cache
 * directory and loads with `latest`, then does the plain load (`fetch` + `InferenceSession.create`
 * + one run), and prints the median time since `createFerry` at which each phase of the SDK's
 * load happened, beside the plain load's. The phases are seen from outside the client: its
 * platform adapter is Node's own, with each call timed (HTTP, storage, probe, hashing, signature
 * check) and ONNX Runtime's session creation timed. Last, bare transfers of the same bytes in the
 * same process (a resolve round trip, `fetch`, `node:http`, `node:http` + SHA-256), which show
 * what the client's own work adds to the transport.
 *
 *   node --conditions=@ferry/source --import tsx bench/sdk/cold-phases.ts   # BENCH_SDK_ROUNDS (40)
 *
 * Session 15 used it to find that a first start's resolve waited for the cache and the probe
 * (docs/decisions.md).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { createFerry, createNodePlatform, type Platform } from '@ferry/sdk';
import { envInt, fmt, makeTempDir, median, withCleanup } from '../lib.js';
import { keepFreedMemory, publishBenchModel, startBenchServer } from './common.js';

const ROUNDS = envInt('BENCH_SDK_ROUNDS', 40);
const WARMUP = 3;
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

// As load.ts: glibc keeps freed memory, so neither side pays for pages handed back to the host.
const MEMORY = keepFreedMemory();

await withCleanup(async (defer) => {
  const tmp = await makeTempDir('ferry-bench-phases-');
  defer(tmp.remove);
  const server = await startBenchServer(tmp.path, defer);
  const base = `http://${server.host}:${server.port}`;
  const { bytes, sha256, appKey, jwks } = await publishBenchModel(server.port, 1024, server.host);
  const artifactUrl = `${base}/v1/artifacts/${sha256}`;
  ort.env.wasm.numThreads = 1;
  await (await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] })).release(); // ORT's wasm compiled first.

  const phases = new Map<string, number[]>();
  const note = (name: string, ms: number) => phases.set(name, [...(phases.get(name) ?? []), ms]);
  let resolveRequest: { url: string; headers: Record<string, string>; body: string } | null = null;
  const create = ort.InferenceSession.create.bind(ort.InferenceSession);

  for (let r = -WARMUP; r < ROUNDS; r++) {
    const seen = new Map<string, number>();
    let t0 = 0;
    /** The first time `name` happens in this round, in ms since `createFerry`. */
    const at = (name: string) => void (seen.has(name) || seen.set(name, performance.now() - t0));
    let hashing = 0;
    const node = createNodePlatform();
    const platform: Platform = {
      ...node,
      probeCapabilities: (options) => node.probeCapabilities(options).finally(() => at('probe done')),
      openStorage: (options) => node.openStorage(options).finally(() => at('cache open')),
      http: async (url, init) => {
        const resolve = url.endsWith('/v1/resolve');
        at(resolve ? 'resolve sent' : 'download requested');
        if (resolve && typeof init.body === 'string') resolveRequest = { url, headers: init.headers, body: init.body };
        const answer = await node.http!(url, init);
        at(resolve ? 'resolve answered (head)' : 'download answered (head)');
        return answer;
      },
      verifyEd25519: (...args) => (at('manifest signature checked'), node.verifyEd25519!(...args)),
      createSha256: () => {
        const hasher = node.createSha256!();
        return {
          update: (chunk) => {
            const started = performance.now();
            hasher.update(chunk);
            hashing += performance.now() - started;
            seen.set('last chunk hashed', performance.now() - t0);
          },
          digestHex: () => hasher.digestHex(),
        };
      },
    };
    ort.InferenceSession.create = (async (...args: Parameters<typeof create>) => {
      at('session creation started');
      const session = await create(...args);
      at('session created');
      return session;
    }) as typeof ort.InferenceSession.create;
    await settle();
    t0 = performance.now();
    const ferry = createFerry({ platform, serverUrl: base, appKey: appKey.key, appKeyId: appKey.id, trustedKeys: jwks, cache: { location: join(tmp.path, `cache-${r + WARMUP}`) }, telemetry: false });
    at('createFerry returned');
    await ferry.getModel('bench-sdk', { policy: 'latest' });
    at('getModel returned');
    ort.InferenceSession.create = create;
    await ferry.close();

    await settle();
    const p0 = performance.now();
    const res = await fetch(artifactUrl, { headers: { 'x-ferry-app-key': appKey.key } });
    const plainHead = performance.now() - p0;
    const fetched = new Uint8Array(await res.arrayBuffer());
    const plainFetched = performance.now() - p0;
    const session = await create(fetched, { executionProviders: ['wasm'] });
    const plainCreated = performance.now() - p0;
    await session.run({ input: new ort.Tensor('float32', new Float32Array(784), [1, 784]) });
    const plainDone = performance.now() - p0;
    await session.release();
    if (r < 0) continue;
    for (const [name, ms] of seen) note(`sdk: ${name}`, ms);
    note('sdk: main-thread hashing (ms, not a time)', hashing);
    note('plain: answered (head)', plainHead);
    note('plain: body fetched', plainFetched);
    note('plain: session created', plainCreated);
    note('plain: run done', plainDone);
  }

  // Bare transport in the same process: what the client's own work adds to it.
  const bare = { 'resolve round trip': [] as number[], fetch: [] as number[], 'node:http': [] as number[], 'node:http + SHA-256': [] as number[] };
  const get = (hash: boolean) =>
    new Promise<void>((resolve, reject) => {
      const req = request(artifactUrl, { headers: { 'x-ferry-app-key': appKey.key }, agent: false }, (res) => {
        const out = Buffer.allocUnsafeSlow(bytes.byteLength);
        const hasher = hash ? createHash('sha256') : null;
        let offset = 0;
        res.on('data', (chunk: Buffer) => {
          hasher?.update(chunk);
          offset += chunk.copy(out, offset);
        });
        res.on('end', () => {
          hasher?.digest('hex');
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const { url, headers, body } = resolveRequest!;
      const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`resolve answered ${res.statusCode}`));
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < ROUNDS * 4; i++) {
    const kind = (Object.keys(bare) as (keyof typeof bare)[])[i % 4]!;
    await settle();
    const started = performance.now();
    if (kind === 'resolve round trip') await post();
    else if (kind === 'fetch') await (await fetch(artifactUrl, { headers: { 'x-ferry-app-key': appKey.key } })).arrayBuffer();
    else await get(kind === 'node:http + SHA-256');
    bare[kind].push(performance.now() - started);
  }

  console.log(`cold load phases, medians of ${ROUNDS} rounds (ms since the load started; server ${server.where}; ${MEMORY}):`);
  const rows = [...phases].map(([name, list]) => [name, median(list)] as const).sort((a, b) => a[1] - b[1]);
  for (const [name, ms] of rows.filter(([name]) => name.startsWith('sdk: ') && !name.includes('(ms'))) console.log(`  ${fmt(ms, 2).padStart(7)}  ${name}`);
  for (const [name, ms] of rows.filter(([name]) => name.includes('(ms'))) console.log(`  ${fmt(ms, 2).padStart(7)}  ${name}`);
  for (const [name, ms] of rows.filter(([name]) => name.startsWith('plain: '))) console.log(`  ${fmt(ms, 2).padStart(7)}  ${name}`);
  console.log(`bare transfers of the same bytes (medians of ${ROUNDS}):`);
  for (const [name, list] of Object.entries(bare)) console.log(`  ${fmt(median(list), 2).padStart(7)}  ${name}`);
});
