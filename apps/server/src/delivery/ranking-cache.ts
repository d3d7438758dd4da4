import type { Device, ManifestCandidate } from '@ferry/protocol';
import { rankCandidates, type ServingPolicy } from './candidates.js';
import type { ServingVersion } from './serving-state.js';

/** A version's candidates for one kind of device, best first, with the key that names them. */
export interface Ranking {
  candidates: ManifestCandidate[];
  /** `variant/backend,…` in order: tells two rankings of a version apart. */
  key: string;
}

// Distinct capability profiles remembered per version; past this the memo starts over.
const MAX_PROFILES = 1024;

// Length-prefixed, so no two profiles share a key whatever their strings hold.
const field = (s: string): string => `${s.length}:${s}`;
function list(items: string[] | undefined): string {
  if (items === undefined) return '~';
  let out = '';
  for (const item of items) out += field(item);
  return `${out};`;
}

interface VersionMemo {
  /** Whether any variant has a memory minimum, i.e. whether memoryMB changes the ranking. */
  memorySensitive: boolean;
  rankings: Map<string, Ranking>;
  /** The same rankings by their key: profiles that rank alike share one Ranking object. */
  byKey: Map<string, Ranking>;
}

/**
 * Candidate rankings memoized per serving version and device capability profile: the fields
 * {@link rankCandidates} reads (platform, formats, features, backends, and memory when a
 * variant has a minimum). Nothing about the device's identity is in the key, so rollout
 * bucketing stays per device. Profiles that rank alike get the same Ranking object (the
 * signed-answer cache hangs off it). A version object is replaced whenever its model's serving state
 * reloads, and the memo goes with it.
 */
export class RankingCache {
  private readonly memos = new WeakMap<ServingVersion, VersionMemo>();

  constructor(private readonly artifactUrl: (sha256: string) => string) {}

  rank(version: ServingVersion, device: Device, policy: ServingPolicy | null): Ranking {
    let memo = this.memos.get(version);
    if (!memo) {
      memo = { memorySensitive: version.variants.some((v) => v.requires.minMemoryMB !== undefined), rankings: new Map(), byKey: new Map() };
      this.memos.set(version, memo);
    }
    const caps = device.capabilities;
    const profile =
      field(device.platform) +
      list(caps.backends) +
      list(caps.features) +
      list(caps.formats) +
      (memo.memorySensitive && caps.memoryMB !== undefined ? String(caps.memoryMB) : '-');
    let ranking = memo.rankings.get(profile);
    if (!ranking) {
      const candidates = rankCandidates(version.variants, device, policy, this.artifactUrl);
      // Candidates with block digests and without never share a ranking.
      const key = (candidates.some((c) => c.blocks) ? 'blocks:' : '') + candidates.map((c) => `${c.variant}/${c.backend}`).join(',');
      if (memo.rankings.size >= MAX_PROFILES) {
        memo.rankings.clear();
        memo.byKey.clear();
      }
      ranking = memo.byKey.get(key);
      if (!ranking) {
        ranking = { candidates, key };
        memo.byKey.set(key, ranking);
      }
      memo.rankings.set(profile, ranking);
    }
    return ranking;
  }
}
