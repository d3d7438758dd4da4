#!/usr/bin/env node
// Bundles the example into dist/: main.js (+ chunks, ONNX Runtime among them), index.html,
// style.css, ONNX Runtime's wasm under ort/, and a service worker that keeps them for offline use.
//   node examples/web/build.mjs [outDir]
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const ortDist = join(here, '..', '..', 'node_modules', 'onnxruntime-web', 'dist');
// The default onnxruntime-web build (WebGPU + wasm) loads these at run time.
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.jsep.mjs'];

async function filesUnder(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

/** Builds the example into `outDir` (default examples/web/dist). */
export async function buildExample({ outDir = join(here, 'dist'), minify = true } = {}) {
  const config = await readFile(join(outDir, 'config.json'), 'utf8').catch(() => null);
  await rm(outDir, { recursive: true, force: true });
  await mkdir(join(outDir, 'ort'), { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2022',
    // Workspace packages resolve to their TypeScript sources.
    conditions: ['@ferry/source'],
    outdir: outDir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    minify,
    sourcemap: true,
    logLevel: 'warning',
  });
  await Promise.all([
    copyFile(join(here, 'index.html'), join(outDir, 'index.html')),
    copyFile(join(here, 'style.css'), join(outDir, 'style.css')),
    ...ORT_FILES.map((f) => copyFile(join(ortDist, f), join(outDir, 'ort', f))),
  ]);
  if (config) await writeFile(join(outDir, 'config.json'), config);
  const files = (await filesUnder(outDir)).map((f) => `./${relative(outDir, f).split('\\').join('/')}`).filter((f) => !f.endsWith('.map') && !f.endsWith('config.json'));
  const sw = (await readFile(join(here, 'sw.template.js'), 'utf8'))
    .replace('__BUILD_ID__', Date.now().toString(36))
    .replace('__FILES__', JSON.stringify(['./', './config.json', ...files]));
  await writeFile(join(outDir, 'sw.js'), sw);
  return { outDir, files };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outDir, files } = await buildExample({ outDir: process.argv[2] });
  console.log(`built ${files.length} files into ${outDir}`);
}
