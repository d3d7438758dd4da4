import semver from 'semver';
import type { Device } from '@ferry/protocol';
import { admitted } from './bucketing.js';
import { variantMismatch } from './candidates.js';
import type { Ranking, RankingCache } from './ranking-cache.js';
import type { Compatibility, ServingState, ServingVersion } from './serving-state.js';
import { matchesTargeting } from './targeting.js';

export type Decision =
  | { kind: 'serve'; version: ServingVersion; rollout: { id: string; stage: number } | null; ranking: Ranking }
  | { kind: 'refuse'; code: 'no_servable_version' | 'no_compatible_variant'; message: string };

function satisfies(version: string | undefined, range: string): boolean {
  const v = version ? semver.coerce(version, { includePrerelease: true }) : null;
  return v !== null && semver.satisfies(v, range, { includePrerelease: true });
}

/** Why the device cannot take this version, or null when it can. */
export function compatibilityProblem(c: Compatibility | null, device: Device): string | null {
  if (!c) return null;
  if (c.sdk && !satisfies(device.sdk.version, c.sdk)) return `needs SDK ${c.sdk}`;
  if (c.appVersion && !satisfies(device.appVersion, c.appVersion)) return `needs app version ${c.appVersion}`;
  if (c.runtime) {
    const rt = device.runtime;
    if (!rt || rt.name !== c.runtime.name || !satisfies(rt.version, c.runtime.range)) return `needs ${c.runtime.name} ${c.runtime.range}`;
  }
  return null;
}

/** The version's ranking when the device can take it; otherwise says why in `reasons`. */
function attempt(
  state: ServingState,
  version: ServingVersion | undefined,
  device: Device,
  rankings: RankingCache,
  reasons: string[],
): Ranking | null {
  if (!version) return null;
  const problem = compatibilityProblem(version.compatibility, device);
  if (problem) {
    reasons.push(`version ${version.number}: ${problem}`);
    return null;
  }
  const ranking = rankings.rank(version, device, state.policy);
  if (ranking.candidates.length === 0) {
    const why = version.variants.map((v) => `${v.kind}: ${variantMismatch(v, device) ?? 'no matching backend'}`);
    reasons.push(`version ${version.number}: no variant fits (${why.join('; ') || 'no ready variants'})`);
    return null;
  }
  return ranking;
}

/**
 * Which version, and which of its variants, this device gets. Pure (`rankings` only
 * memoizes): the same state and device give the same answer on every server.
 *  1. An active or paused rollout whose audience and percentage admit the device.
 *  2. Otherwise the stable version.
 *  3. A device that cannot take either keeps the newest released version it can run, older
 *     than the stable one (a version newer than stable was replaced or withdrawn; with no
 *     stable version nothing is released).
 */
export function decide(state: ServingState, device: Device, rankings: RankingCache): Decision {
  const reasons: string[] = [];
  for (const rollout of state.rollouts) {
    if (!matchesTargeting(device, rollout.targeting)) continue;
    if (!admitted(rollout.id, device.id, rollout.percent)) continue;
    const version = state.versions.get(rollout.version);
    const ranking = attempt(state, version, device, rankings, reasons);
    if (version && ranking) return { kind: 'serve', version, rollout: { id: rollout.id, stage: rollout.stageIndex }, ranking };
    break;
  }

  if (state.stableVersion !== null) {
    const stable = state.versions.get(state.stableVersion);
    const ranking = attempt(state, stable, device, rankings, reasons);
    if (stable && ranking) return { kind: 'serve', version: stable, rollout: null, ranking };
  }

  const stableNumber = state.stableVersion;
  const released =
    stableNumber === null
      ? []
      : [...state.versions.values()].filter((v) => v.releasedAt !== null && v.number < stableNumber).sort((a, b) => b.number - a.number);
  for (const version of released) {
    const ranking = attempt(state, version, device, rankings, reasons);
    if (ranking) return { kind: 'serve', version, rollout: null, ranking };
  }

  if (state.stableVersion === null && reasons.length === 0) {
    return { kind: 'refuse', code: 'no_servable_version', message: `model "${state.name}" has no stable version and no rollout for this device` };
  }
  return { kind: 'refuse', code: 'no_compatible_variant', message: `no version of "${state.name}" fits this device: ${reasons.join(' | ')}` };
}
