import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { FerryApi } from '../http/ferry-api.js';
import type { MetaStore } from '../platform.js';

/** A public key as JWK (`{kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA'}`). */
export type TrustedKey = JWK;

/** Keys an app pins: one JWK, several, or a JWKS document. */
export type TrustedKeys = TrustedKey | TrustedKey[] | { keys: TrustedKey[] };

/** A set of keys manifests may be signed with: its JWKs, and jose's resolver of them. */
export interface KeySet {
  readonly keys: readonly JWK[];
  readonly resolver: ReturnType<typeof createLocalJWKSet>;
}

function keySet(jwks: JSONWebKeySet): KeySet {
  // The resolver validates the set (it throws on a malformed one) and keeps its own copy; so does this.
  const resolver = createLocalJWKSet(jwks);
  // Without a prototype, as jose keeps them: nothing inherited reads as a key's field.
  return { keys: jwks.keys.map((k) => Object.assign(Object.create(null) as JWK, structuredClone(k))), resolver };
}

const JWKS_META_KEY = 'jwks';
/** Shortest time between two JWKS fetches caused by an unknown key id. */
const REFETCH_COOLDOWN_MS = 30_000;
/** A kept JWKS older than this is refreshed in the background (rotations add keys ahead of use). */
const STALE_JWKS_MS = 60 * 60 * 1000;

interface StoredJwks {
  url: string;
  fetchedAt: number;
  jwks: JSONWebKeySet;
}

/** Normalises the three shapes of {@link TrustedKeys} into a JWKS. */
export function toJwks(keys: TrustedKeys): JSONWebKeySet {
  if (Array.isArray(keys)) return { keys };
  if ('keys' in keys && Array.isArray(keys.keys)) return { keys: keys.keys };
  return { keys: [keys as TrustedKey] };
}

export interface KeyRingOptions {
  trustedKeys?: TrustedKeys | undefined;
  /** Absolute JWKS URL, or a path on the Ferry server such as `/v1/keys`. */
  jwksUrl?: string | undefined;
  api: FerryApi;
  meta: MetaStore;
  now: () => number;
}

/**
 * The keys manifests may be signed with: the pinned ones, and those of a JWKS URL (fetched on
 * first use, kept in the meta store for offline starts, refetched when a manifest names an
 * unknown key id, at most every 30 s).
 */
export class KeyRing {
  private pinned: KeySet | null;
  private remote: { set: KeySet; fetchedAt: number } | null = null;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | null = null;

  constructor(private readonly options: KeyRingOptions) {
    if (!options.trustedKeys && !options.jwksUrl) throw new TypeError('createFerry needs trustedKeys or jwksUrl to verify manifests');
    this.pinned = options.trustedKeys ? keySet(toJwks(options.trustedKeys)) : null;
  }

  get hasRemote(): boolean {
    return Boolean(this.options.jwksUrl);
  }

  /**
   * The key sets to try, pinned first. On first call the JWKS comes from the copy kept on the
   * device (refreshed in the background when older than an hour), else from the network: an
   * offline start never waits for the network.
   */
  async keySets(): Promise<KeySet[]> {
    if (this.options.jwksUrl && !this.remote) {
      const url = this.options.api.url(this.options.jwksUrl);
      const stored = await this.options.meta.get<StoredJwks>(JWKS_META_KEY).catch(() => undefined);
      if (stored?.url === url && Array.isArray(stored.jwks?.keys)) {
        this.remote = { set: keySet(stored.jwks), fetchedAt: stored.fetchedAt };
        if (this.options.now() - stored.fetchedAt > STALE_JWKS_MS) void this.load(true).catch(() => undefined);
      } else {
        const failed = await this.load(false).then(
          () => null,
          (err: unknown) => err,
        );
        // No key at all because the JWKS could not be fetched: a network failure, not a bad signature.
        if (failed !== null && !this.pinned && !this.remote) throw failed;
      }
    }
    return [this.pinned, this.remote?.set].filter((r): r is KeySet => r !== null && r !== undefined);
  }

  /** Refetches the JWKS after a manifest named a key this ring does not have. True if it refreshed. */
  async refresh(): Promise<boolean> {
    if (!this.options.jwksUrl) return false;
    // Unknown key ids may come from a forger as well as from a rotation: refetch at most every 30 s.
    if (this.options.now() - this.lastRefresh < REFETCH_COOLDOWN_MS) return false;
    this.lastRefresh = this.options.now();
    try {
      await this.load(true);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * One fetch at a time, shared by every caller. It runs under no caller's signal (the API's own
   * time limit bounds it; a load that aborts stops waiting for its manifest's check instead), so
   * that one caller's abort never fails the others, nor passes for a key that is not trusted.
   */
  private load(force: boolean): Promise<void> {
    this.loading ??= this.fetchKeys(force).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async fetchKeys(force: boolean): Promise<void> {
    const url = this.options.api.url(this.options.jwksUrl!);
    try {
      const jwks = (await this.options.api.keys(url)) as JSONWebKeySet;
      const fetchedAt = this.options.now();
      this.remote = { set: keySet(jwks), fetchedAt };
      await this.options.meta.set(JWKS_META_KEY, { url, fetchedAt, jwks } satisfies StoredJwks);
    } catch (err) {
      if (force || this.remote) throw err;
      // Offline start: the copy fetched earlier over the same URL.
      const stored = await this.options.meta.get<StoredJwks>(JWKS_META_KEY);
      if (!stored || stored.url !== url) throw err;
      this.remote = { set: keySet(stored.jwks), fetchedAt: 0 };
    }
  }
}
