// The model both SDK load benchmarks serve: a real ONNX MLP, uploaded and published on a Ferry child.
import { buildMlp } from '@ferry/compress/testing';
import { adminHeaders, createModel, http } from '../lib.js';

export const BENCH_MODEL = 'bench-sdk';

export interface PublishedBenchModel {
  bytes: Uint8Array;
  sha256: string;
  appKey: { id: string; key: string };
  jwks: { keys: Record<string, unknown>[] };
}

/** Uploads an MLP 784-`hidden`-`hidden`-10 (~7 MiB for 1024) as `bench-sdk` v1, published to everyone. */
export async function publishBenchModel(port: number, hidden: number): Promise<PublishedBenchModel> {
  const bytes = buildMlp({ inputSize: 784, hidden: [hidden, hidden], outputs: 10, seed: 7 });
  await createModel(port, BENCH_MODEL);
  const uploaded = await http(port, 'POST', `/v1/projects/default/models/${BENCH_MODEL}/versions`, {
    headers: { ...adminHeaders, 'content-type': 'application/octet-stream' },
    body: Buffer.from(bytes),
  });
  if (uploaded.status !== 201) throw new Error(`upload: ${uploaded.status} ${uploaded.body}`);
  const { version, sha256 } = JSON.parse(uploaded.body) as { version: number; sha256: string };
  const rollout = await http(port, 'POST', `/v1/projects/default/models/${BENCH_MODEL}/rollouts`, {
    headers: { ...adminHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ version, stages: [100] }),
  });
  if (rollout.status !== 201) throw new Error(`rollout: ${rollout.status} ${rollout.body}`);
  const keys = JSON.parse((await http(port, 'GET', '/v1/projects/default/app-keys', { headers: adminHeaders })).body) as {
    appKeys: { id: string; key: string }[];
  };
  const jwks = JSON.parse((await http(port, 'GET', '/v1/keys')).body) as { keys: Record<string, unknown>[] };
  return { bytes, sha256, appKey: keys.appKeys[0]!, jwks };
}
