import { base64url, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { Ed25519PublicJwk, Platform } from '../platform.js';
import { ALGORITHMS } from './manifest-verifier.js';

/**
 * What a native check decides for a manifest and one key set: its payload (the signature is the
 * one key's), `unknown-key` (no key jose would pick), `bad-signature`, or undefined (jose decides).
 */
export type NativeJwsVerdict = { payload: Uint8Array } | 'unknown-key' | 'bad-signature' | undefined;
export type NativeJwsCheck = (jws: string, header: ProtectedHeaderParameters, keys: readonly JWK[]) => NativeJwsVerdict;

/**
 * A manifest check with the platform's native Ed25519 (`verify`, {@link Platform.verifyEd25519}),
 * deciding only where jose's answer is certain: a header of only `alg` (EdDSA), `kid` and `typ`,
 * exactly one plain public key that jose would pick, and a `true` or `false` from the platform.
 * Everything else (several keys, which jose refuses; a key jose would fail to import; a check that
 * throws or answers anything but a boolean) is left to jose. A module of its own, so that browser
 * bundles, whose platform has no native check, leave it out.
 */
export function ed25519JwsCheck(verify: NonNullable<Platform['verifyEd25519']>): NativeJwsCheck {
  return (jws, header, keys) => {
    const plain = plainEdDsa(jws, header);
    if (!plain) return undefined;
    // The keys jose would pick for this header. None: as jose, an unknown key.
    const picked = keys.filter((k) => josePicks(k, header.alg!, header.kid));
    if (!picked.length) return 'unknown-key';
    const only = picked.length === 1 ? picked[0]! : null;
    if (!only || !plainPublicKey(only)) return undefined;
    let verdict: unknown;
    try {
      verdict = verify(only, plain.signingInput, plain.signature);
    } catch {
      return undefined;
    }
    if (verdict === true) return { payload: plain.payload };
    if (verdict === false) return 'bad-signature';
    return undefined;
  };
}

/** The header parameters the native check understands; a header with any other (`crit`, `b64`, `jwk`, …) goes to jose. */
const PLAIN_HEADER = new Set(['alg', 'kid', 'typ']);
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * A compact JWS whose signature a platform's Ed25519 check can take as is: three base64url parts,
 * a protected header of only `alg` (EdDSA), `kid` and `typ`, a 64-byte signature. Null for
 * anything else, which jose then checks (and refuses, or accepts by rules the native path does not
 * know).
 */
function plainEdDsa(jws: string, header: ProtectedHeaderParameters): { signingInput: Uint8Array; signature: Uint8Array; payload: Uint8Array } | null {
  if (!Object.keys(header).every((k) => PLAIN_HEADER.has(k)) || !ALGORITHMS.includes(header.alg ?? '')) return null;
  if (header.kid !== undefined && typeof header.kid !== 'string') return null;
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return null;
  try {
    const signature = base64url.decode(parts[2]!);
    if (signature.byteLength !== 64) return null;
    return { signingInput: new TextEncoder().encode(`${parts[0]}.${parts[1]}`), signature, payload: base64url.decode(parts[1]!) };
  } catch {
    return null;
  }
}

/**
 * Whether jose's JWKS resolver (`createLocalJWKSet`, jose 6) takes `k` as a candidate for an EdDSA
 * header with `alg` and `kid`: its own test, for the OKP / Ed25519 entry of its algorithm table.
 */
function josePicks(k: JWK, alg: string, kid: string | undefined): boolean {
  const ops: unknown = k.key_ops;
  return (
    (k.ext === undefined || typeof k.ext === 'boolean') &&
    (ops === undefined || (Array.isArray(ops) && ops.every((op, i) => typeof op === 'string' && ops.indexOf(op) === i) && ops.includes('verify'))) &&
    k.kty === 'OKP' &&
    (kid === undefined || k.kid === kid) &&
    (k.alg === undefined || k.alg === alg) &&
    (k.use === undefined || k.use === 'sig') &&
    k.crv === 'Ed25519'
  );
}

/** A key jose imports as a public verifying key: `x` and no private part, `key_ops` (if any) only `verify`. */
function plainPublicKey(k: JWK): k is JWK & Ed25519PublicJwk {
  const ops: unknown = k.key_ops;
  return typeof k.x === 'string' && k.d === undefined && (ops === undefined || (Array.isArray(ops) && ops.length === 1 && ops[0] === 'verify'));
}
