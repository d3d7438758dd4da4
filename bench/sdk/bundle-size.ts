/**
 * SDK bundle-size benchmark: bundles `@ferry/sdk` for browsers as an app would (esbuild, ESM,
 * minified, tree-shaken, `onnxruntime-web` left out: it is a peer dependency loaded on first
 * use), and prints its size raw, gzip and brotli, plus the largest inputs. The baseline is the
 * SDK's own dependencies (jose's verify path, hash-wasm's and @noble/hashes' SHA-256) bundled alone, so the
 * ratio shows what Ferry adds on top of them.
 *
 * Target: ≤ 40 KiB gzip (BENCH_SDK_BUNDLE_KB).
 *
 *   node --conditions=@ferry/source --import tsx bench/sdk/bundle-size.ts
 */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { REPO_ROOT, envInt, fmt } from '../lib.js';

const TARGET_KB = envInt('BENCH_SDK_BUNDLE_KB', 40);

async function bundle(contents: string, resolveDir: string): Promise<{ bytes: Uint8Array; metafile: Metafile }> {
  const result = await build({
    stdin: { contents, resolveDir, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    treeShaking: true,
    write: false,
    metafile: true,
    conditions: ['@ferry/source'],
    external: ['onnxruntime-web'],
    logLevel: 'error',
  });
  return { bytes: result.outputFiles[0]!.contents, metafile: result.metafile };
}

const kb = (n: number) => `${fmt(n / 1024, 1)} KiB`;

const sdk = await bundle(
  // What a page typically uses: the client, its errors, classify.
  `export { createFerry, FerryError } from '@ferry/sdk';`,
  REPO_ROOT,
);
const deps = await bundle(
  `import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
   import { sha256 } from '@noble/hashes/sha2.js';
   import { createSHA256 } from 'hash-wasm';
   export { compactVerify, createLocalJWKSet, decodeProtectedHeader, sha256, createSHA256 };`,
  join(REPO_ROOT, 'packages', 'sdk'),
);

const sizes = (b: Uint8Array) => ({ raw: b.byteLength, gzip: gzipSync(b, { level: 9 }).byteLength, brotli: brotliCompressSync(b).byteLength });
const s = sizes(sdk.bytes);
const d = sizes(deps.bytes);
console.log(`@ferry/sdk (browser, minified, onnxruntime-web external): ${kb(s.raw)} raw, ${kb(s.gzip)} gzip, ${kb(s.brotli)} brotli`);
console.log(`  baseline, its dependencies alone (jose verify + hash-wasm and noble sha256): ${kb(d.raw)} raw, ${kb(d.gzip)} gzip`);
console.log(`  ratio SDK / dependencies (gzip): ${fmt(s.gzip / d.gzip, 2)}×`);

const inputs = Object.entries(sdk.metafile.outputs)[0]![1].inputs;
const byPackage = new Map<string, number>();
for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
  const key = path.includes('node_modules/') ? path.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1') : path.replace(/^packages\/sdk\/src\/([^/]+\/[^/]+).*$/, 'sdk/$1');
  byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
}
console.log('  largest parts (minified, before gzip):');
for (const [name, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`    ${name.padEnd(40)} ${kb(bytes)}`);
if (Object.keys(inputs).some((p) => p.includes('typebox'))) {
  console.log('FAIL: typebox (wire schemas) reached the bundle');
  process.exit(1);
}
// Node's native Ed25519 check: browsers have none, and the browser entry leaves its code out.
if (Object.entries(inputs).some(([p, { bytesInOutput }]) => p.includes('core/manifest/native-check') && bytesInOutput > 0)) {
  console.log('FAIL: the native Ed25519 check (core/manifest/native-check.ts) reached the browser bundle');
  process.exit(1);
}
const ok = s.gzip <= TARGET_KB * 1024;
console.log(`${ok ? 'ok' : 'MISSED'}: ${kb(s.gzip)} gzip, target ≤ ${TARGET_KB} KiB`);
process.exit(ok ? 0 : 1);
