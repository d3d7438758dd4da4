// A process of an app that shares its cache directory with other processes (a server's cluster
// workers), for the tests: it loads one model into the directories of several rounds, each round at
// a set time, so that the processes load at the same moment. Run with
// `node --conditions=@ferry/source --import tsx cache-process.ts`; settings in FERRY_TEST_JOB (JSON).
import { join } from 'node:path';
import { createFerry } from '../platform/node/index.js';

interface Job {
  serverUrl: string;
  appKey: string;
  appKeyId: string;
  model: string;
  root: string;
  /** Round r starts at `start + r * gapMs` (epoch ms), in `<root>/r<r>`. */
  rounds: number;
  start: number;
  gapMs: number;
  /** @defaultValue 'latest' */
  policy?: 'latest' | 'local';
}

const job = JSON.parse(process.env.FERRY_TEST_JOB ?? '{}') as Job;
const sources: string[] = [];
for (let round = 0; round < job.rounds; round++) {
  const wait = job.start + round * job.gapMs - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const ferry = createFerry({
    serverUrl: job.serverUrl,
    appKey: job.appKey,
    appKeyId: job.appKeyId,
    // The server's keys as it serves them now (other tests may have rotated them).
    jwksUrl: '/v1/keys',
    cache: { location: join(job.root, `r${round}`) },
    telemetry: false,
  });
  sources.push((await ferry.getModel(job.model, { policy: job.policy ?? 'latest' })).source);
  await ferry.close();
}
process.stdout.write(`done: ${sources.join(' ')}\n`);
