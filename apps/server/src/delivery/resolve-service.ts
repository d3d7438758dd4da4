import { cachedIsCurrent, type ManifestPayload, type ResolveRequest } from '@ferry/protocol';
import { FerryError } from '../errors.js';
import type { ManifestSigner } from '../signing/manifest-signer.js';
import type { AppKeyCache, AppKeyRecord } from './app-key-cache.js';
import { RankingCache, type Ranking } from './ranking-cache.js';
import { decide } from './resolve-decision.js';
import type { ServingState, ServingStateCache } from './serving-state.js';

/** How long a manifest is valid: short, so a device can tell when it is being fed a frozen one. */
export const MANIFEST_TTL_SECONDS = 6 * 3600;
// A signed manifest is reused for identical decisions for this long (its exp is unchanged).
const SIGNED_REUSE_MS = 5 * 60 * 1000;

/**
 * `body` is the answer already serialized (`{"manifest": "…"}`), kept with the signature it
 * holds; `bytes` is the same body as UTF-8, for writers that send bytes.
 */
export type ResolveOutcome = { status: 200; manifest: string; body: string; bytes: Buffer } | { status: 304 };

const NOT_MODIFIED: ResolveOutcome = { status: 304 };

interface Signed {
  at: number;
  pending: Promise<ResolveOutcome>;
  /** Set once signed: answered without waiting on `pending`. */
  outcome?: ResolveOutcome;
}

/**
 * Turns a device's request into a signed manifest. When the model's serving state and the
 * signature are cached (the steady state) the answer is computed synchronously: the
 * per-device decision runs on every call, nothing else waits.
 */
export class ResolveService {
  /**
   * Signed answers per ranking, keyed by app key and rollout. A ranking belongs to one version
   * of one loaded serving state (model, release), so it stands for all of those: the lookup
   * builds no long key.
   */
  private readonly signed = new WeakMap<Ranking, Map<string, Signed>>();
  private readonly rankings: RankingCache;

  constructor(
    private readonly state: ServingStateCache,
    private readonly signer: ManifestSigner,
    private readonly options: { issuer: string; publicUrl: string | null },
  ) {
    const base = `${options.publicUrl ?? ''}/v1/artifacts/`;
    this.rankings = new RankingCache((sha256) => base + sha256);
  }

  /**
   * {@link resolve} for the app key a request names (its `X-Ferry-App-Key` header): synchronous
   * in the steady state, when the key is cached too. An unknown or revoked key rejects.
   */
  resolveFor(appKeys: AppKeyCache, header: unknown, request: ResolveRequest): ResolveOutcome | Promise<ResolveOutcome> {
    const appKey = appKeys.peek(header);
    return appKey ? this.resolve(appKey, request) : appKeys.require(header).then((key) => this.resolve(key, request));
  }

  /** The outcome, or a promise of it while the model's state or its signature is being made. */
  resolve(appKey: AppKeyRecord, request: ResolveRequest): ResolveOutcome | Promise<ResolveOutcome> {
    const state = this.state.peek(appKey.projectId, request.model);
    if (state !== undefined) return this.answer(appKey, request, state);
    return this.state.get(appKey.projectId, request.model).then((loaded) => this.answer(appKey, request, loaded));
  }

  private answer(appKey: AppKeyRecord, request: ResolveRequest, state: ServingState | null): ResolveOutcome | Promise<ResolveOutcome> {
    if (!state) throw new FerryError('model_not_found', `no model "${request.model}" for this app`);
    const decision = decide(state, request.device, this.rankings);
    if (decision.kind === 'refuse') throw new FerryError(decision.code, decision.message);
    const { version, rollout, ranking } = decision;

    // Signing key in use: a 304 only for manifests it signed, and part of the reuse key below.
    const kid = this.signer.currentKid();
    const cached = request.cached;
    if (
      cached &&
      cached.release === state.release &&
      cached.version === version.number &&
      cachedIsCurrent(ranking.candidates, cached) &&
      // Signed by a key since replaced: sign it anew, before that key leaves the JWKS.
      (cached.kid === undefined || cached.kid === kid)
    ) {
      return NOT_MODIFIED;
    }

    let signed = this.signed.get(ranking);
    if (!signed) {
      signed = new Map();
      this.signed.set(ranking, signed);
    }
    // After a rotation (here or on another replica) no manifest signed by the replaced key goes out again.
    const key = rollout ? `${kid}|${appKey.id}|${rollout.id}` : `${kid}|${appKey.id}`;
    const now = Date.now();
    const hit = signed.get(key);
    if (hit && now - hit.at < SIGNED_REUSE_MS) return hit.outcome ?? hit.pending;

    const iat = Math.floor(now / 1000);
    const payload: ManifestPayload = {
      iss: this.options.issuer,
      // The key the app ships with: the device can check it without knowing any server-side id.
      aud: appKey.key,
      iat,
      exp: iat + MANIFEST_TTL_SECONDS,
      project: state.projectName,
      model: state.name,
      release: state.release,
      version: version.number,
      rollout,
      candidates: ranking.candidates,
      io: version.io,
      metadata: {
        ...(state.labels ? { labels: state.labels } : {}),
        ...(state.task ? { task: state.task } : {}),
        ...(state.metadata?.preprocessing !== undefined ? { preprocessing: state.metadata.preprocessing } : {}),
        ...(state.metadata?.postprocessing !== undefined ? { postprocessing: state.metadata.postprocessing } : {}),
      },
    };
    const entry: Signed = {
      at: now,
      pending: this.signer.sign(payload).then((manifest) => {
        const body = JSON.stringify({ manifest });
        entry.outcome = { status: 200, manifest, body, bytes: Buffer.from(body) };
        return entry.outcome;
      }),
    };
    signed.set(key, entry);
    const entries = signed;
    entry.pending.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
    });
    return entry.pending;
  }
}
