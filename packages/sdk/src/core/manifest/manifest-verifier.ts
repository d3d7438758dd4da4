import { compactVerify, decodeProtectedHeader, type ProtectedHeaderParameters } from 'jose';
import type { ManifestCandidate, ManifestPayload } from '@ferry/protocol';
import { blocksFit } from '../download/artifact-download.js';
import {
  FerryError,
  ManifestExpiredError,
  ManifestInvalidError,
  ManifestMismatchError,
  ManifestSignatureError,
} from '../errors.js';
import type { Platform } from '../platform.js';
import type { NativeJwsCheck, ed25519JwsCheck } from './native-check.js';
import type { KeyRing } from './key-ring.js';

/** Where the verifier gets its keys (a {@link KeyRing}). */
export type KeySource = Pick<KeyRing, 'keySets' | 'refresh'>;

/** `typ` of manifest headers (same value as `MANIFEST_TYPE` in `@ferry/protocol`, kept here to keep schemas out of bundles). */
export const MANIFEST_TYPE = 'ferry-manifest+jwt';
/** The `alg` values accepted (jose's names for Ed25519). */
export const ALGORITHMS = ['EdDSA', 'Ed25519'];
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A manifest whose signature and claims were checked. */
export interface VerifiedManifest {
  /** The compact JWS, kept to re-verify the cache on load. */
  readonly jws: string;
  readonly kid: string | undefined;
  readonly payload: ManifestPayload;
}

export interface VerifyOptions {
  /** The model the app asked for. */
  model: string;
  /** Check `exp`: false when re-verifying a cached manifest, which is served offline after expiry. */
  checkExpiry: boolean;
}

/** Decides which audiences (`aud`, the app key id the server issued a manifest to) are this app's. */
export interface AudienceCheck {
  accepts(aud: string): Promise<boolean>;
  /** Called once a manifest fully verified (to pin the audience on first use). */
  accepted?(aud: string): Promise<void>;
}

/** Accepts exactly the given audiences. */
export function fixedAudiences(audiences: readonly string[]): AudienceCheck {
  return { accepts: async (aud) => audiences.includes(aud) };
}

export interface ManifestVerifierOptions {
  keys: KeySource;
  /** Which `aud` values this app accepts. */
  audience: AudienceCheck;
  now: () => number;
  /** Allowed clock difference with the server, in seconds. */
  clockSkewSeconds: number;
  /**
   * A check with the platform's native Ed25519 ({@link Platform.verifyEd25519}, through
   * {@link ed25519JwsCheck}), tried first for each key set; else (or when it does not decide) jose's, with WebCrypto.
   */
  nativeCheck?: NativeJwsCheck;
}

/**
 * Checks a manifest as DESIGN.md asks: EdDSA signature by a pinned key, expiry (freeze),
 * audience and model (mix-and-match), shape. Release order (rollback) is the cache's job, as
 * it needs what this device accepted before.
 */
export class ManifestVerifier {
  constructor(private readonly options: ManifestVerifierOptions) {}

  async verify(jws: string, options: VerifyOptions): Promise<VerifiedManifest> {
    const ctx = { model: options.model };
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jws);
    } catch (err) {
      throw new ManifestInvalidError('the manifest is not a compact JWS', { ...ctx, cause: err });
    }
    if (header.typ !== MANIFEST_TYPE) throw new ManifestInvalidError(`the manifest's typ is "${String(header.typ)}", not "${MANIFEST_TYPE}"`, ctx);
    if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
      throw new ManifestSignatureError(`the manifest is signed with "${String(header.alg)}", only EdDSA is accepted`, ctx);
    }
    const payloadBytes = await this.verifySignature(jws, header, options);
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder().decode(payloadBytes));
    } catch (err) {
      throw new ManifestInvalidError('the manifest payload is not JSON', { ...ctx, cause: err });
    }
    const manifest = checkShape(payload, options.model);
    if (!(await this.options.audience.accepts(manifest.aud))) {
      throw new ManifestMismatchError(`the manifest was issued to another app (aud "${manifest.aud}")`, ctx);
    }
    if (manifest.model !== options.model) {
      throw new ManifestMismatchError(`the manifest is for model "${manifest.model}", not "${options.model}"`, ctx);
    }
    if (options.checkExpiry) {
      const nowSeconds = this.options.now() / 1000;
      if (nowSeconds > manifest.exp + this.options.clockSkewSeconds) {
        const ago = Math.round(nowSeconds - manifest.exp);
        throw new ManifestExpiredError(`the manifest expired ${ago} s ago (release ${manifest.release})`, ctx);
      }
    }
    await this.options.audience.accepted?.(manifest.aud);
    return { jws, kid: header.kid, payload: manifest };
  }

  private async verifySignature(jws: string, header: ProtectedHeaderParameters, options: VerifyOptions): Promise<Uint8Array> {
    const ctx = { model: options.model };
    const kid = header.kid;
    const native = this.options.nativeCheck;
    for (let refreshed = false; ; refreshed = true) {
      let unknownKey = false;
      for (const { keys, resolver } of await this.options.keys.keySets()) {
        const verdict = native?.(jws, header, keys);
        if (verdict === 'unknown-key') {
          unknownKey = true;
          continue;
        }
        if (verdict === 'bad-signature') continue;
        if (verdict) return verdict.payload;
        try {
          const { payload } = await compactVerify(jws, resolver, { algorithms: ALGORITHMS });
          return payload;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'ERR_JWKS_NO_MATCHING_KEY') {
            unknownKey = true;
            continue;
          }
          if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED') {
            continue;
          }
          if (code === 'ERR_JWS_INVALID') throw new ManifestInvalidError('the manifest is not a valid JWS', { ...ctx, cause: err });
          if (err instanceof FerryError) throw err;
          throw new ManifestSignatureError('the manifest signature could not be checked', { ...ctx, cause: err });
        }
      }
      // A key id none of the keys has: the server may have rotated its keys; refetch once.
      if (unknownKey && !refreshed && (await this.options.keys.refresh())) continue;
      throw new ManifestSignatureError(
        unknownKey ? `the manifest is signed by a key that is not trusted (kid "${kid ?? ''}")` : 'the manifest signature does not verify',
        ctx,
      );
    }
  }
}

function fail(message: string, model: string): never {
  throw new ManifestInvalidError(`the manifest is malformed: ${message}`, { model });
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the payload by hand: a schema library would triple the SDK's bundle. */
function checkShape(value: unknown, model: string): ManifestPayload {
  if (!isObject(value)) fail('payload is not an object', model);
  for (const key of ['iss', 'aud', 'project', 'model'] as const) {
    if (typeof value[key] !== 'string') fail(`"${key}" is not a string`, model);
  }
  for (const key of ['iat', 'exp', 'release', 'version'] as const) {
    if (!isInt(value[key])) fail(`"${key}" is not an integer`, model);
  }
  if ((value.release as number) < 0) fail('"release" is negative', model);
  const rollout = value.rollout ?? null;
  if (rollout !== null && !(isObject(rollout) && typeof rollout.id === 'string' && isInt(rollout.stage))) fail('"rollout" is malformed', model);
  if (!Array.isArray(value.candidates)) fail('"candidates" is not an array', model);
  const candidates = value.candidates.map((c, i) => checkCandidate(c, i, model));
  const io = value.io ?? null;
  if (io !== null && !(isObject(io) && Array.isArray(io.inputs) && Array.isArray(io.outputs))) fail('"io" is malformed', model);
  const metadata = value.metadata ?? {};
  if (!isObject(metadata)) fail('"metadata" is not an object', model);
  if (metadata.labels !== undefined && !(Array.isArray(metadata.labels) && metadata.labels.every((l) => typeof l === 'string'))) {
    fail('"metadata.labels" is not a list of strings', model);
  }
  return { ...(value as unknown as ManifestPayload), rollout: rollout as ManifestPayload['rollout'], candidates, io: io as ManifestPayload['io'], metadata };
}

function checkCandidate(value: unknown, index: number, model: string): ManifestCandidate {
  const where = `candidates[${index}]`;
  if (!isObject(value)) fail(`${where} is not an object`, model);
  for (const key of ['variant', 'format', 'backend', 'url'] as const) {
    if (typeof value[key] !== 'string') fail(`${where}.${key} is not a string`, model);
  }
  if (!isInt(value.size) || value.size < 0) fail(`${where}.size is not a byte count`, model);
  if (typeof value.sha256 !== 'string' || !SHA256_HEX.test(value.sha256)) fail(`${where}.sha256 is not a SHA-256 hex digest`, model);
  const encodings = value.encodings ?? [];
  if (!Array.isArray(encodings)) fail(`${where}.encodings is not an array`, model);
  const requires = isObject(value.requires) ? value.requires : { format: value.format, backends: [value.backend], features: [] };
  const { blocks, ...rest } = value as unknown as ManifestCandidate;
  return {
    ...rest,
    precision: typeof value.precision === 'string' ? value.precision : 'unknown',
    encodings: encodings as ManifestCandidate['encodings'],
    requires: requires as ManifestCandidate['requires'],
    // Block digests that do not describe the bytes are left out: the whole stream is hashed instead.
    ...(blocksFit(blocks, value.size) ? { blocks } : {}),
  };
}
