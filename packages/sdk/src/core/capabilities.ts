import type { DeviceCapabilities } from '@ferry/protocol';
import type { Capabilities } from './platform.js';

/** Freezes a probed capabilities object, its arrays and nested objects included. */
export function freezeCapabilities(probed: Capabilities): Readonly<Capabilities> {
  return Object.freeze({
    ...probed,
    backends: Object.freeze([...probed.backends]),
    features: Object.freeze([...probed.features]),
    formats: Object.freeze([...probed.formats]),
    ...(probed.runtime ? { runtime: Object.freeze({ ...probed.runtime }) } : {}),
  });
}

/** The `capabilities` of a resolve request. */
export function deviceCapabilities(caps: Capabilities): DeviceCapabilities {
  const out: DeviceCapabilities = { backends: [...caps.backends], features: [...caps.features], formats: [...caps.formats] };
  if (caps.memoryMB !== undefined) out.memoryMB = caps.memoryMB;
  if (caps.cores !== undefined) out.cores = caps.cores;
  if (caps.storageMB !== undefined) out.storageMB = Math.floor(caps.storageMB);
  return out;
}
