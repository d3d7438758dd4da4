import type { ManifestPayload, ResolveRequest } from '@ferry/protocol';
import { FerryError } from '../errors.js';
import type { ManifestSigner } from '../signing/manifest-signer.js';
import type { AppKeyRecord } from './app-key-cache.js';
import { decide } from './resolve-decision.js';
import type { ServingStateCache } from './serving-state.js';

/** How long a manifest is valid: short, so a device can tell when it is being fed a frozen one. */
export const MANIFEST_TTL_SECONDS = 6 * 3600;
// A signed manifest is reused for identical decisions for this long (its exp is unchanged).
const SIGNED_REUSE_MS = 5 * 60 * 1000;

/** `body` is the answer already serialized (`{"manifest": "…"}`), kept with the signature it holds. */
export type ResolveOutcome = { status: 200; manifest: string; body: string } | { status: 304 };

/** Turns a device's request into a signed manifest. */
export class ResolveService {
  private readonly signed = new Map<string, { at: number; jws: Promise<{ manifest: string; body: string }> }>();

  constructor(
    private readonly state: ServingStateCache,
    private readonly signer: ManifestSigner,
    private readonly options: { issuer: string; publicUrl: string | null },
  ) {}

  private artifactUrl = (sha256: string): string => `${this.options.publicUrl ?? ''}/v1/artifacts/${sha256}`;

  async resolve(appKey: AppKeyRecord, request: ResolveRequest): Promise<ResolveOutcome> {
    const state = await this.state.get(appKey.projectId, request.model);
    if (!state) throw new FerryError('model_not_found', `no model "${request.model}" for this app`);
    const decision = decide(state, request.device, this.artifactUrl);
    if (decision.kind === 'refuse') throw new FerryError(decision.code, decision.message);

    const cached = request.cached;
    if (
      cached &&
      cached.release === state.release &&
      cached.version === decision.version.number &&
      decision.candidates.some((c) => c.sha256 === cached.sha256)
    ) {
      return { status: 304 };
    }

    const key = [
      appKey.id,
      state.modelId,
      state.release,
      decision.version.number,
      decision.rollout ? `${decision.rollout.id}@${decision.rollout.stage}` : '-',
      decision.candidates.map((c) => `${c.variant}/${c.backend}`).join(','),
    ].join('|');
    const now = Date.now();
    const hit = this.signed.get(key);
    if (hit && now - hit.at < SIGNED_REUSE_MS) return { status: 200, ...(await hit.jws) };

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
      version: decision.version.number,
      rollout: decision.rollout,
      candidates: decision.candidates,
      io: decision.version.io,
      metadata: {
        ...(state.labels ? { labels: state.labels } : {}),
        ...(state.task ? { task: state.task } : {}),
        ...(state.metadata?.preprocessing !== undefined ? { preprocessing: state.metadata.preprocessing } : {}),
        ...(state.metadata?.postprocessing !== undefined ? { postprocessing: state.metadata.postprocessing } : {}),
      },
    };
    const jws = this.signer.sign(payload).then((manifest) => ({ manifest, body: JSON.stringify({ manifest }) }));
    this.signed.set(key, { at: now, jws });
    jws.catch(() => this.signed.delete(key));
    if (this.signed.size > 50_000) this.signed.delete(this.signed.keys().next().value!);
    return { status: 200, ...(await jws) };
  }
}
