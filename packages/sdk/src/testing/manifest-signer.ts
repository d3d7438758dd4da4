import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { ManifestCandidate, ManifestPayload } from '@ferry/protocol';

/** A signing key pair for tests, with its public JWK as an app would pin it. */
export interface TestSigner {
  kid: string;
  publicJwk: JWK;
  /** Signs `payload`; `header` may add parameters (`crit` ones need `crit` to name them as understood). */
  sign(payload: unknown, header?: { kid?: string; typ?: string; alg?: string; [parameter: string]: unknown }, options?: { crit?: Record<string, boolean> }): Promise<string>;
}

/** A fresh Ed25519 manifest-signing key. */
export async function createTestSigner(kid = `test-${Math.random().toString(36).slice(2, 10)}`): Promise<TestSigner> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid,
    publicJwk,
    sign: (payload, header = {}, options = {}) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ ...header, alg: header.alg ?? 'EdDSA', kid: header.kid ?? kid, typ: header.typ ?? 'ferry-manifest+jwt' })
        .sign(privateKey, options),
  };
}

/** A manifest payload for `model` with sensible defaults. */
export function testManifest(overrides: Partial<ManifestPayload> & { model: string; candidates: ManifestCandidate[] }): ManifestPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'http://ferry.test',
    aud: 'test-app-key',
    iat: now,
    exp: now + 3600,
    project: 'default',
    release: 1,
    version: 1,
    rollout: null,
    io: { inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }], outputs: [{ name: 'logits', type: 'float32', shape: ['N', 2] }] },
    metadata: {},
    ...overrides,
  };
}

/** A candidate for `bytes` (sha256 given) served at `/v1/artifacts/<sha256>`. */
export function testCandidate(sha256: string, size: number, overrides: Partial<ManifestCandidate> = {}): ManifestCandidate {
  return {
    variant: 'original',
    format: 'onnx',
    precision: 'fp32',
    backend: 'wasm',
    requires: { format: 'onnx', backends: ['wasm'], features: [] },
    size,
    sha256,
    url: `/v1/artifacts/${sha256}`,
    encodings: [],
    ...overrides,
  };
}
