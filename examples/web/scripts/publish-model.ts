// Trains a small digit classifier (784-64-10 MLP on the `mnist` package's digits, ~2 s), uploads
// it to a Ferry server as model "digits" with its pre/post-processing metadata, publishes it to
// everyone, and writes dist/config.json for the page.
//   node --conditions=@ferry/source --import tsx examples/web/scripts/publish-model.ts \
//     --ferry http://127.0.0.1:8080 --token <admin token> [--model digits] [--public-url <url the page uses>]
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMlp, trainMnistMlp } from '@ferry/compress/testing';

/** How the page's drawings become the model's input, and its output labelled classes. */
export const DIGITS_METADATA = {
  // Drawn black on white; MNIST digits are white on black in [0, 1].
  preprocessing: { type: 'image', resize: 'stretch', invert: true },
  postprocessing: { type: 'classification', softmax: true, topK: 3 },
};
export const DIGIT_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** The trained model's ONNX bytes (and its held-out accuracy). */
export function trainDigits(): { bytes: Uint8Array; accuracy: number } {
  const { weights, hidden, testAccuracy } = trainMnistMlp();
  return { bytes: buildMlp({ hidden: [hidden], weights }), accuracy: testAccuracy };
}

export interface PublishOptions {
  ferry: string;
  token: string;
  model?: string;
  bytes?: Uint8Array;
}

/** Creates the model (if needed), uploads a version and publishes it; returns the page's config. */
export async function publishDigits(options: PublishOptions): Promise<{ appKey: string; appKeyId: string; model: string; version: number }> {
  const { ferry, token, model = 'digits' } = options;
  const call = async (method: string, path: string, body?: BodyInit | object, contentType = 'application/json') => {
    const res = await fetch(new URL(path, ferry), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: contentType === 'application/json' ? JSON.stringify(body) : (body as BodyInit) } : {}),
    });
    const text = await res.text();
    if (!res.ok && !(res.status === 409 && path.endsWith('/models'))) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  await call('POST', '/v1/projects/default/models', { name: model, task: 'image-classification', labels: DIGIT_LABELS, metadata: DIGITS_METADATA });
  const bytes = options.bytes ?? trainDigits().bytes;
  const version = (await call('POST', `/v1/projects/default/models/${model}/versions`, bytes as BodyInit, 'application/octet-stream')).version as number;
  await call('POST', `/v1/projects/default/models/${model}/rollouts`, { version, stages: [100] });
  const keys = (await call('GET', '/v1/projects/default/app-keys')).appKeys as { id: string; key: string; revokedAt: string | null }[];
  const key = keys.find((k) => !k.revokedAt);
  if (!key) throw new Error('the default project has no active app key');
  return { appKey: key.key, appKeyId: key.id, model, version };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string, fallback?: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const ferry = arg('ferry', 'http://127.0.0.1:8080')!;
  const token = arg('token', process.env.FERRY_ADMIN_TOKEN);
  if (!token) throw new Error('pass --token <admin token> (or FERRY_ADMIN_TOKEN)');
  const { bytes, accuracy } = trainDigits();
  console.log(`trained a digit classifier: ${(accuracy * 100).toFixed(1)} % on held-out digits, ${bytes.byteLength} bytes`);
  const published = await publishDigits({ ferry, token, model: arg('model'), bytes });
  const jwks = await (await fetch(new URL('/v1/keys', ferry))).json();
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  await mkdir(out, { recursive: true });
  const publicUrl = arg('public-url');
  await writeFile(join(out, 'config.json'), `${JSON.stringify({ ...(publicUrl ? { serverUrl: publicUrl } : {}), appKey: published.appKey, appKeyId: published.appKeyId, jwks, model: published.model }, null, 2)}\n`);
  console.log(`published ${published.model} v${published.version}; wrote ${join(out, 'config.json')}`);
}
