import type { Capabilities, ProbeOptions } from '../../core/platform.js';
import { wasmFeatures } from '../shared/wasm-features.js';

interface NavigatorExtras {
  gpu?: { requestAdapter(options?: unknown): Promise<{ features: { has(name: string): boolean } } | null> };
  ml?: unknown;
  deviceMemory?: number;
  hardwareConcurrency?: number;
  userAgent?: string;
  userAgentData?: { platform?: string; brands?: { brand: string; version: string }[] };
  storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> };
}

const MB = 1024 * 1024;

/**
 * How long the probe waits for a WebGPU adapter. The spec lets `requestAdapter` take as long as
 * the browser likes (a background tab, a GPU process starting or crashed), and the first resolve
 * waits for the probe: past this, the device is described without WebGPU (its models come for
 * the backends it has), instead of every load waiting with it.
 */
export const WEBGPU_PROBE_MS = 1000;

async function probeWebGpu(nav: NavigatorExtras): Promise<{ available: boolean; shaderF16: boolean }> {
  const none = { available: false, shaderF16: false };
  if (!nav.gpu) return none;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WEBGPU_PROBE_MS)));
    const adapter = await Promise.race([nav.gpu.requestAdapter(), late]);
    return adapter ? { available: true, shaderF16: adapter.features.has('shader-f16') } : none;
  } catch {
    return none;
  } finally {
    clearTimeout(timer);
  }
}

function probeWebGl2(): boolean {
  try {
    const canvas =
      typeof OffscreenCanvas !== 'undefined'
        ? new OffscreenCanvas(1, 1)
        : typeof document !== 'undefined'
          ? document.createElement('canvas')
          : null;
    const gl = canvas?.getContext('webgl2') as WebGL2RenderingContext | null | undefined;
    if (!gl) return false;
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return true;
  } catch {
    return false;
  }
}

function osOf(nav: NavigatorExtras): string | undefined {
  if (nav.userAgentData?.platform) return nav.userAgentData.platform;
  const ua = nav.userAgent ?? '';
  return /Android [\d.]+|iPhone OS [\d_]+|Mac OS X [\d_.]+|Windows NT [\d.]+|CrOS|Linux/.exec(ua)?.[0]?.replace(/_/g, '.');
}

function runtimeOf(nav: NavigatorExtras): Capabilities['runtime'] {
  const brand = nav.userAgentData?.brands?.find((b) => !/Not.?A.?Brand/i.test(b.brand) && b.brand !== 'Chromium') ?? nav.userAgentData?.brands?.find((b) => b.brand === 'Chromium');
  if (brand) return { name: brand.brand.toLowerCase().replace(/\s+/g, '-'), version: brand.version };
  const m = /(Firefox|Edg|Chrome|Version)\/([\d.]+)/.exec(nav.userAgent ?? '');
  if (!m) return undefined;
  return { name: m[1] === 'Version' ? 'safari' : m[1]!.toLowerCase(), version: m[2]! };
}

/** What the probes found, or (provisionally) what they may find. */
interface Probed {
  gpu: { available: boolean; shaderF16: boolean };
  webgl: boolean;
  wasm: { simd: boolean; threads: boolean };
  estimate: { quota?: number; usage?: number } | undefined;
}

/**
 * Probes the browser: WebGPU (and shader-f16), WebNN, WebGL2, wasm SIMD/threads, memory, cores,
 * storage. WebGPU and WebGL2 are probed only when the runtime can use them (`options.runtimeSupports`).
 */
export async function probeBrowserCapabilities(options: ProbeOptions = {}): Promise<Capabilities> {
  // A page's first `requestAdapter` call blocks its main thread while it is made (13–26 ms in
  // Chromium here, before its promise even exists), and the first storage estimate and wasm
  // validation 0.5–6 ms more: asked in a task of their own, after the caller's, so that a first
  // resolve (sent with the provisional description) is on its way first.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const nav = navigatorOf();
  const wanted = wantedBy(options);
  const probes = Promise.all([
    wanted('webgpu') ? probeWebGpu(nav) : { available: false, shaderF16: false },
    nav.storage?.estimate?.().catch(() => undefined) ?? Promise.resolve(undefined),
  ]);
  // Validating the feature modules takes ~0.6 ms in Chromium here: done while the probes above are answered.
  const wasm = wasmFeatures();
  const [gpu, estimate] = await probes;
  return describe(nav, { gpu, webgl: wanted('webgl') && probeWebGl2(), wasm, estimate });
}

/**
 * What {@link probeBrowserCapabilities} may find, at once and without calling anything that
 * blocks: WebGPU and shader-f16 wherever `navigator.gpu` exists (the adapter request decides),
 * WebGL2 wherever the API exists (a context decides), wasm SIMD wherever wasm does and threads
 * wherever SharedArrayBuffer is given (validation decides), no storage estimate.
 */
export function provisionalBrowserCapabilities(options: ProbeOptions = {}): Capabilities {
  const nav = navigatorOf();
  const wanted = wantedBy(options);
  const gpu = Boolean(nav.gpu) && wanted('webgpu');
  const webgl = wanted('webgl') && typeof (globalThis as { WebGL2RenderingContext?: unknown }).WebGL2RenderingContext !== 'undefined';
  const wasm = typeof WebAssembly !== 'undefined';
  return describe(nav, { gpu: { available: gpu, shaderF16: gpu }, webgl, wasm: { simd: wasm, threads: wasm && typeof SharedArrayBuffer !== 'undefined' }, estimate: undefined });
}

const navigatorOf = () => (typeof navigator === 'undefined' ? {} : navigator) as NavigatorExtras;

/** Whether the runtime can use `backend` (no probe for one it cannot). */
const wantedBy = (options: ProbeOptions) => (backend: string) => options.runtimeSupports?.(backend) ?? true;

function describe(nav: NavigatorExtras, { gpu, webgl, wasm, estimate }: Probed): Capabilities {
  const { simd, threads } = wasm;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const backends = [
    ...(gpu.available ? ['webgpu'] : []),
    ...(nav.ml ? ['webnn'] : []),
    ...(webgl ? ['webgl'] : []),
    ...(typeof WebAssembly !== 'undefined' ? ['wasm'] : []),
  ];
  const features = [
    ...(gpu.shaderF16 ? ['shader-f16'] : []),
    ...(simd ? ['wasm-simd'] : []),
    // Threads need SharedArrayBuffer, which browsers only give to cross-origin isolated pages.
    ...(threads && isolated ? ['wasm-threads'] : []),
  ];
  const free = estimate?.quota !== undefined ? Math.max(0, estimate.quota - (estimate.usage ?? 0)) / MB : undefined;
  return {
    platform: 'web',
    os: osOf(nav),
    runtime: runtimeOf(nav),
    backends,
    features,
    formats: ['onnx'],
    memoryMB: nav.deviceMemory !== undefined ? nav.deviceMemory * 1024 : undefined,
    cores: nav.hardwareConcurrency,
    storageMB: free !== undefined ? Math.floor(free) : undefined,
    crossOriginIsolated: isolated,
  };
}
