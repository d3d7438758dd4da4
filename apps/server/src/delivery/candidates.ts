import { BLOCK_DIGESTS_FEATURE, type BlockDigests, type Device, type ManifestCandidate, type VariantRequires } from '@ferry/protocol';

/** A ready variant as resolve sees it. */
export interface ServableVariant {
  kind: string;
  precision: string;
  sha256: string;
  size: number;
  requires: VariantRequires;
  encodings: ManifestCandidate['encodings'];
  /** Per-block SHA-256 of the bytes; null until the startup backfill reaches an older artifact. */
  blocks?: BlockDigests | null;
}

/** Per-model ordering of candidates: patterns "backend:variant", "backend:precision", "*:int8", … best first. */
export interface ServingPolicy {
  preference?: string[];
}

const GPU_BACKENDS = new Set(['webgpu', 'webnn', 'webgl', 'coreml', 'nnapi']);
// On a GPU, half precision is fastest; on a CPU, int8 weights download and load fastest.
const GPU_PRECISION = ['fp16', 'fp32', 'mixed', 'int8', 'unknown'];
const CPU_PRECISION = ['int8', 'fp32', 'mixed', 'fp16', 'unknown'];

/** What a platform runs when the device does not list formats. */
export function defaultFormats(platform: string): string[] {
  switch (platform) {
    case 'android':
      return ['tflite', 'onnx'];
    case 'ios':
      return ['coreml', 'onnx'];
    default:
      return ['onnx'];
  }
}

/** Why a variant does not fit the device, or null when it fits on some backend. */
export function variantMismatch(v: ServableVariant, device: Device): string | null {
  const caps = device.capabilities;
  const formats = caps.formats ?? defaultFormats(device.platform);
  if (!formats.includes(v.requires.format)) return `format ${v.requires.format} not supported`;
  if (v.requires.platforms?.length && !v.requires.platforms.includes(device.platform)) return `not built for ${device.platform}`;
  if (v.requires.minMemoryMB !== undefined && caps.memoryMB !== undefined && caps.memoryMB < v.requires.minMemoryMB) {
    return `needs ${v.requires.minMemoryMB} MB of memory`;
  }
  const features = new Set(caps.features ?? []);
  const missing = v.requires.features.filter((f) => !features.has(f));
  if (missing.length) return `needs ${missing.join(', ')}`;
  if (!caps.backends.some((b) => v.requires.backends.includes(b))) return `needs one of the backends ${v.requires.backends.join(', ')}`;
  return null;
}

function policyRank(policy: ServingPolicy | null, backend: string, v: ServableVariant): number {
  const prefs = policy?.preference;
  if (!prefs?.length) return 0;
  const i = prefs.findIndex((p) => {
    const [b = '*', what = '*'] = p.split(':');
    return (b === '*' || b === backend) && (what === '*' || what === v.kind || what === v.precision);
  });
  return i === -1 ? prefs.length : i;
}

/**
 * The (variant, backend) pairs this device can run, best first: by the model's policy when
 * it has one, then by the device's own backend order, then by the precision that suits the
 * backend (GPU: fp16 before fp32 before int8; CPU: int8 before fp32), smaller first on ties.
 */
export function rankCandidates(
  variants: ServableVariant[],
  device: Device,
  policy: ServingPolicy | null,
  artifactUrl: (sha256: string) => string,
): ManifestCandidate[] {
  const withBlocks = device.capabilities.features?.includes(BLOCK_DIGESTS_FEATURE) ?? false;
  const pairs: { v: ServableVariant; backend: string; key: number[] }[] = [];
  for (const v of variants) {
    if (variantMismatch(v, device)) continue;
    device.capabilities.backends.forEach((backend, backendRank) => {
      if (!v.requires.backends.includes(backend)) return;
      const order = GPU_BACKENDS.has(backend) ? GPU_PRECISION : CPU_PRECISION;
      const precisionRank = order.indexOf(v.precision) === -1 ? order.length : order.indexOf(v.precision);
      pairs.push({ v, backend, key: [policyRank(policy, backend, v), backendRank, precisionRank, v.size] });
    });
  }
  pairs.sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!;
    // The original is the reference: on a tie it goes first.
    if ((a.v.kind === 'original') !== (b.v.kind === 'original')) return a.v.kind === 'original' ? -1 : 1;
    return a.v.kind.localeCompare(b.v.kind);
  });
  // Block digests go on the first candidate with their bytes only (another backend's repeats them).
  const listed = new Set<string>();
  const blocksOf = (v: ServableVariant) => {
    // One block is the whole artifact, whose SHA-256 is there already: left out (fewer bytes per resolve).
    if (!withBlocks || !v.blocks || v.blocks.sha256.length <= 1 || listed.has(v.sha256)) return {};
    listed.add(v.sha256);
    return { blocks: v.blocks };
  };
  return pairs.map(({ v, backend }) => ({
    variant: v.kind,
    format: v.requires.format,
    precision: v.precision,
    backend,
    requires: v.requires,
    size: v.size,
    sha256: v.sha256,
    url: artifactUrl(v.sha256),
    encodings: v.encodings,
    ...blocksOf(v),
  }));
}
