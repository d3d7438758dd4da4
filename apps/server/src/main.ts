// First: V8 flags that must be in place before the server allocates anything per request.
import './runtime-flags.js';
import { existsSync } from 'node:fs';
import { buildApp } from './app.js';
import { EXAMPLE_DIR } from './routes/examples/example-routes.js';
import { ConfigError, loadConfig, type Config } from './config.js';

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`ferry: invalid configuration: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

const app = await buildApp({ config });
const address = await app.listen({ port: config.port, host: config.host });
const info = app.bootstrapInfo;
const base = config.publicUrl ?? address;
const lines = [
  '',
  `Ferry is listening on ${address}`,
  `  database: ${app.db.kind === 'pglite' ? `PGlite in ${config.dataDir}/pglite` : 'PostgreSQL (DATABASE_URL)'}`,
  `  blobs:    ${app.blobs.kind === 'local' ? `files in ${config.dataDir}/blobs` : `S3 bucket ${config.s3?.bucket}`}`,
  `  API docs: ${base}/docs`,
  ...(existsSync(EXAMPLE_DIR) ? [`  web example: ${base}/examples/web/ (draw a digit)`] : []),
  `  project "${info.defaultProject}", app key: ${info.defaultAppKey}`,
  ...(config.seedDemo ? ['  demo model: "digits" (published; its variants build in the background)'] : []),
];
if (info.adminTokenGenerated) {
  lines.push(`  admin token (shown once; also kept in ${info.adminTokenFile}):`, `    ${info.adminToken}`);
} else if (info.adminTokenFile) {
  lines.push(`  admin token: kept in ${info.adminTokenFile}`);
} else {
  lines.push('  admin token: FERRY_ADMIN_TOKEN');
}
console.log(lines.join('\n') + '\n');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  });
}
