import semver from 'semver';
import type { Device, Targeting } from '@ferry/protocol';

const lower = (xs: string[] | undefined) => xs?.map((x) => x.toLowerCase());

function inList(list: string[] | undefined, value: string | undefined): boolean {
  if (!list) return true;
  if (value === undefined) return false;
  return lower(list)!.includes(value.toLowerCase());
}

/** True when the device belongs to the targeted audience. A field the device does not report never matches a filter on it. */
export function matchesTargeting(device: Device, t: Targeting): boolean {
  if (!inList(t.platforms, device.platform)) return false;
  if (!inList(t.os, device.os)) return false;
  if (!inList(t.countries, device.country)) return false;
  if (!inList(t.deviceClasses, device.deviceClass)) return false;
  if (t.appVersion) {
    const v = device.appVersion ? semver.coerce(device.appVersion, { includePrerelease: true }) : null;
    if (!v || !semver.satisfies(v, t.appVersion, { includePrerelease: true })) return false;
  }
  return true;
}

function listsOverlap(a: string[] | undefined, b: string[] | undefined): boolean {
  if (!a || !b) return true;
  const set = new Set(lower(a));
  return lower(b)!.some((x) => set.has(x));
}

/** True when some device could be in both audiences; two rollouts of a model must not overlap. */
export function audiencesOverlap(a: Targeting, b: Targeting): boolean {
  if (!listsOverlap(a.platforms, b.platforms)) return false;
  if (!listsOverlap(a.os, b.os)) return false;
  if (!listsOverlap(a.countries, b.countries)) return false;
  if (!listsOverlap(a.deviceClasses, b.deviceClasses)) return false;
  if (a.appVersion && b.appVersion && !semver.intersects(a.appVersion, b.appVersion, { includePrerelease: true })) return false;
  return true;
}

/** Throws a message when the targeting's app-version range is not a semver range. */
export function targetingProblem(t: Targeting): string | null {
  if (t.appVersion && semver.validRange(t.appVersion) === null) return `targeting.appVersion "${t.appVersion}" is not a semver range`;
  return null;
}
