import { describe, expect, it, vi } from 'vitest';
import { MANIFEST_TYPE as PROTOCOL_MANIFEST_TYPE } from '@ferry/protocol';
import { MemoryMetaStore } from '../cache/memory-storage.js';
import { FerryApi } from '../http/ferry-api.js';
import { DEFAULT_RETRY } from '../http/retry.js';
import { createTestSigner, testCandidate, testManifest } from '../../testing/manifest-signer.js';
import { createNodePlatform } from '../../platform/node/node-platform.js';
import type { Platform } from '../platform.js';
import { KeyRing, type TrustedKeys } from './key-ring.js';
import { MANIFEST_TYPE, ManifestVerifier, fixedAudiences } from './manifest-verifier.js';
import { ed25519JwsCheck } from './native-check.js';
import {
  ManifestExpiredError,
  ManifestInvalidError,
  ManifestMismatchError,
  ManifestSignatureError,
} from '../errors.js';

const SHA = 'a'.repeat(64);

type SetupOptions = { trustedKeys?: TrustedKeys; jwksUrl?: string; fetch?: typeof fetch; now?: () => number; meta?: MemoryMetaStore; native?: Platform['verifyEd25519'] };

function baseSetup(options: SetupOptions = {}) {
  const now = options.now ?? (() => Date.now());
  const api = new FerryApi({
    serverUrl: 'http://ferry.test',
    appKey: 'test-app-key',
    fetch: options.fetch ?? (async () => new Response('{}', { status: 500 })),
    retry: { ...DEFAULT_RETRY, retries: 0 },
    requestTimeoutMs: 1000,
    now,
    network: () => ({}),
  });
  const keys = new KeyRing({ trustedKeys: options.trustedKeys, jwksUrl: options.jwksUrl, api, meta: options.meta ?? new MemoryMetaStore(), now });
  return new ManifestVerifier({
    keys,
    audience: fixedAudiences(['test-app-key', 'ak_123']),
    now,
    clockSkewSeconds: 60,
    ...(options.native ? { nativeCheck: ed25519JwsCheck(options.native) } : {}),
  });
}

const payload = (overrides = {}) => testManifest({ model: 'digits', candidates: [testCandidate(SHA, 10)], ...overrides });

/** Node's native Ed25519 check, counted: the tests below run with jose's (WebCrypto) and with it. */
const nodeVerify = vi.fn(createNodePlatform().verifyEd25519!);
const SIGNATURE_CHECKS = [
  ['jose (WebCrypto)', undefined],
  ["the platform's native Ed25519 check", nodeVerify],
] as const;

describe.each(SIGNATURE_CHECKS)('ManifestVerifier, signatures checked by %s', (_, native) => {
  const setup = (options: SetupOptions = {}) => baseSetup({ ...options, native });

  it('uses the protocol manifest type', () => {
    expect(MANIFEST_TYPE).toBe(PROTOCOL_MANIFEST_TYPE);
  });

  it('accepts a manifest signed by a pinned key, in any of the three key shapes', async () => {
    const signer = await createTestSigner();
    const jws = await signer.sign(payload());
    for (const trustedKeys of [signer.publicJwk, [signer.publicJwk], { keys: [signer.publicJwk] }] as TrustedKeys[]) {
      const verified = await setup({ trustedKeys }).verify(jws, { model: 'digits', checkExpiry: true });
      expect(verified.payload.model).toBe('digits');
      expect(verified.kid).toBe(signer.kid);
      expect(verified.jws).toBe(jws);
    }
  });

  it('accepts the app key id as audience', async () => {
    const signer = await createTestSigner();
    const jws = await signer.sign(payload({ aud: 'ak_123' }));
    await expect(setup({ trustedKeys: signer.publicJwk }).verify(jws, { model: 'digits', checkExpiry: true })).resolves.toBeTruthy();
  });

  it('refuses a manifest signed by another key (same kid or another)', async () => {
    const pinned = await createTestSigner('k1');
    const attacker = await createTestSigner('k1');
    const verifier = setup({ trustedKeys: pinned.publicJwk });
    await expect(verifier.verify(await attacker.sign(payload()), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestSignatureError);
    const other = await createTestSigner('k2');
    const err = await verifier.verify(await other.sign(payload()), { model: 'digits', checkExpiry: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestSignatureError);
    expect((err as ManifestSignatureError).code).toBe('manifest_signature_invalid');
    expect((err as Error).message).toContain('k2');
  });

  it('refuses a payload changed after signing', async () => {
    const signer = await createTestSigner();
    const jws = await signer.sign(payload());
    const [h, , s] = jws.split('.');
    const forged = Buffer.from(JSON.stringify(payload({ release: 99 }))).toString('base64url');
    await expect(setup({ trustedKeys: signer.publicJwk }).verify(`${h}.${forged}.${s}`, { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(
      ManifestSignatureError,
    );
  });

  it('refuses unsigned and non-EdDSA manifests and other token types', async () => {
    const signer = await createTestSigner();
    const verifier = setup({ trustedKeys: signer.publicJwk });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'ferry-manifest+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload())).toString('base64url')}.`;
    await expect(verifier.verify(none, { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestSignatureError);
    await expect(verifier.verify(await signer.sign(payload(), { typ: 'JWT' }), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestInvalidError);
    await expect(verifier.verify('not a jws', { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestInvalidError);
  });

  it('refuses an expired manifest beyond the clock skew, and only when expiry is checked', async () => {
    const signer = await createTestSigner();
    const now = Math.floor(Date.now() / 1000);
    const verifier = setup({ trustedKeys: signer.publicJwk });
    const expired = await signer.sign(payload({ iat: now - 7200, exp: now - 3600 }));
    const err = await verifier.verify(expired, { model: 'digits', checkExpiry: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestExpiredError);
    expect((err as ManifestExpiredError).code).toBe('manifest_expired');
    await expect(verifier.verify(expired, { model: 'digits', checkExpiry: false })).resolves.toBeTruthy();
    const justExpired = await signer.sign(payload({ exp: now - 30 }));
    await expect(verifier.verify(justExpired, { model: 'digits', checkExpiry: true })).resolves.toBeTruthy();
  });

  it('refuses a manifest for another model or another app', async () => {
    const signer = await createTestSigner();
    const verifier = setup({ trustedKeys: signer.publicJwk });
    await expect(verifier.verify(await signer.sign(payload({ model: 'faces' })), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(
      ManifestMismatchError,
    );
    const err = await verifier.verify(await signer.sign(payload({ aud: 'other-app' })), { model: 'digits', checkExpiry: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestMismatchError);
    expect((err as ManifestMismatchError).code).toBe('manifest_mismatch');
  });

  it('refuses malformed payloads', async () => {
    const signer = await createTestSigner();
    const verifier = setup({ trustedKeys: signer.publicJwk });
    const bad = [
      { ...payload(), release: 'one' },
      { ...payload(), candidates: [{ ...testCandidate(SHA, 10), sha256: 'xyz' }] },
      { ...payload(), candidates: [{ ...testCandidate(SHA, 10), size: -1 }] },
      { ...payload(), candidates: 'none' },
      { ...payload(), metadata: { labels: [1, 2] } },
    ];
    for (const p of bad) {
      await expect(verifier.verify(await signer.sign(p), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestInvalidError);
    }
  });

  it('fetches a JWKS URL on first use, refetches on an unknown kid (rotation), and keeps a copy for offline starts', async () => {
    const first = await createTestSigner('old');
    const second = await createTestSigner('new');
    let served = [first.publicJwk];
    let fetches = 0;
    let offline = false;
    const fetchFn: typeof fetch = async (input) => {
      fetches++;
      if (offline) throw new TypeError('fetch failed');
      expect(String(input)).toBe('http://ferry.test/v1/keys');
      return new Response(JSON.stringify({ keys: served }), { status: 200 });
    };
    let clock = Date.now();
    const meta = new MemoryMetaStore();
    const verifier = setup({ jwksUrl: '/v1/keys', fetch: fetchFn, meta, now: () => clock });
    await verifier.verify(await first.sign(payload()), { model: 'digits', checkExpiry: true });
    expect(fetches).toBe(1);
    // Rotation: the new key id triggers one refetch, right away.
    served = [first.publicJwk, second.publicJwk];
    await verifier.verify(await second.sign(payload()), { model: 'digits', checkExpiry: true });
    expect(fetches).toBe(2);
    // A forger's unknown key ids do not make it refetch more than every 30 s.
    const forger = await createTestSigner('forged');
    await expect(verifier.verify(await forger.sign(payload()), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestSignatureError);
    expect(fetches).toBe(2);
    clock += 60_000;
    await expect(verifier.verify(await forger.sign(payload()), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestSignatureError);
    await expect(verifier.verify(await forger.sign(payload()), { model: 'digits', checkExpiry: true })).rejects.toBeInstanceOf(ManifestSignatureError);
    expect(fetches).toBe(3);

    offline = true;
    const restarted = setup({ jwksUrl: '/v1/keys', fetch: fetchFn, meta, now: () => clock });
    await expect(restarted.verify(await second.sign(payload()), { model: 'digits', checkExpiry: true })).resolves.toBeTruthy();
    expect(fetches).toBe(3); // the kept copy, without waiting for the network

    // A copy older than an hour is used at once and refreshed in the background.
    offline = false;
    clock += 2 * 3600_000;
    const later = setup({ jwksUrl: '/v1/keys', fetch: fetchFn, meta, now: () => clock });
    await later.verify(await second.sign(payload({ exp: Math.floor(clock / 1000) + 60 })), { model: 'digits', checkExpiry: true });
    await vi.waitFor(() => expect(fetches).toBe(4));
  });
});

describe("the platform's native Ed25519 check", () => {
  const setup = (options: SetupOptions = {}) => baseSetup({ ...options, native: nodeVerify });
  const check = { model: 'digits', checkExpiry: true };

  it('checks plain EdDSA manifests in place of WebCrypto', async () => {
    const signer = await createTestSigner();
    nodeVerify.mockClear();
    const verified = await setup({ trustedKeys: signer.publicJwk }).verify(await signer.sign(payload()), check);
    expect(verified.payload.model).toBe('digits');
    expect(nodeVerify).toHaveBeenCalledTimes(1);
  });

  it('leaves headers with other parameters to jose: crit it does not understand is refused, others accepted', async () => {
    const signer = await createTestSigner();
    const verifier = setup({ trustedKeys: signer.publicJwk });
    nodeVerify.mockClear();
    const critical = await signer.sign(payload(), { crit: ['x-must'], 'x-must': 1 }, { crit: { 'x-must': true } });
    await expect(verifier.verify(critical, check)).rejects.toBeInstanceOf(ManifestSignatureError);
    await expect(verifier.verify(await signer.sign(payload(), { cty: 'json' }), check)).resolves.toBeTruthy();
    expect(nodeVerify).not.toHaveBeenCalled();
  });

  it('decides as jose does, for every token and key set: the same acceptance, the same error', async () => {
    const signer = await createTestSigner('k1');
    const sameKid = await createTestSigner('k1');
    const stranger = await createTestSigner('k9');
    const jws = await signer.sign(payload());
    const [h, p, sig] = jws.split('.');
    const noKid = `${Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: MANIFEST_TYPE })).toString('base64url')}.${p}`;
    const noKidJws = `${noKid}.${(await signer.sign(payload())).split('.')[2]}`; // Another header: this signature does not match it.
    const key = signer.publicJwk;
    /** Pinned keys, the keys a JWKS URL serves (or none), a token. */
    const cases: [TrustedKeys, TrustedKeys[] | null, string][] = [
      [key, null, jws],
      [key, null, `${h}.${p}.${sig!.slice(0, -4)}`],
      [key, null, `${h}.${p}.${sig}=`],
      [key, null, `${h}.${p}.${sig}.`],
      [key, null, noKidJws],
      [[key, { ...key, kid: 'k2' }], null, jws],
      [stranger.publicJwk, null, jws],
      // Several keys jose would pick (jose refuses those), in one set.
      [[sameKid.publicJwk, key], null, jws],
      [[stranger.publicJwk, { ...key, kid: undefined }], null, noKidJws],
      // Keys jose does not pick, or picks and cannot import.
      [{ ...key, use: 'enc' }, null, jws],
      [{ ...key, crv: 'Ed448' }, null, jws],
      [{ ...key, alg: 'ES256' }, null, jws],
      [{ ...key, key_ops: ['sign'] }, null, jws],
      [{ ...key, key_ops: ['verify', 1] } as unknown as TrustedKeys, null, jws],
      [{ ...key, key_ops: ['verify', 'sign'] }, null, jws],
      [{ ...key, key_ops: ['verify', 'verify'] }, null, jws],
      [{ ...key, ext: 'yes' } as unknown as TrustedKeys, null, jws],
      [{ ...key, d: key.x }, null, jws],
      [{ ...key, x: 'AAAA' }, null, jws],
      // A pinned key jose cannot use, and the signing key in the JWKS.
      [{ ...key, x: 'AAAA' }, [key], jws],
      [{ ...key, key_ops: ['verify', 'sign'] }, [key], jws],
      [sameKid.publicJwk, [key], jws],
      [[sameKid.publicJwk, { ...sameKid.publicJwk }], [key], jws],
    ];
    const outcome = async (native: Platform['verifyEd25519'] | undefined, pinned: TrustedKeys, served: TrustedKeys[] | null, token: string) => {
      const jwks = served ? { jwksUrl: '/v1/keys', fetch: (async () => Response.json({ keys: served })) as typeof fetch } : {};
      return baseSetup({ trustedKeys: pinned, native, ...jwks })
        .verify(token, check)
        .then(
          () => 'accepted',
          (err: unknown) => `${(err as Error).constructor.name}: ${(err as Error).message}`,
        );
    };
    let accepted = 0;
    for (const [pinned, served, token] of cases) {
      const joseSays = await outcome(undefined, pinned, served, token);
      if (joseSays === 'accepted') accepted++;
      expect([pinned, served, token, await outcome(nodeVerify, pinned, served, token)]).toEqual([pinned, served, token, joseSays]);
    }
    expect(accepted).toBeGreaterThanOrEqual(3);
  });

  it("takes nothing but true as a signature that verifies: a platform check that throws or answers otherwise leaves it to jose", async () => {
    const signer = await createTestSigner();
    const stranger = await createTestSigner(signer.kid);
    const forged = await stranger.sign(payload());
    const odd = [() => 1, async () => false, () => 'false', () => { throw new Error('no Ed25519 here'); }] as unknown as Platform['verifyEd25519'][];
    for (const native of odd) {
      const verifier = baseSetup({ trustedKeys: signer.publicJwk, native });
      await expect(verifier.verify(forged, check)).rejects.toBeInstanceOf(ManifestSignatureError);
      await expect(verifier.verify(await signer.sign(payload()), check)).resolves.toBeTruthy();
    }
  });
});
