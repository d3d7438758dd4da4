#!/usr/bin/env node
// `npm run bench [-- upload|download|resolve|compress/run|sdk/load|sdk/browser-load|sdk/bundle-size ...]`: runs the benchmarks one after the other (default: all),
// each in its own node process with the TypeScript sources of the workspace packages.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ALL = ['upload', 'download', 'resolve', 'compress/run', 'sdk/load', 'sdk/browser-load', 'sdk/bundle-size'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
let failed = 0;
for (const name of wanted) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark "${name}"; one of: ${ALL.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== bench/${name}.ts ==`);
  const r = spawnSync(process.execPath, ['--conditions=@ferry/source', '--import', 'tsx', join(here, `${name}.ts`)], {
    cwd: join(here, '..'),
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
