import { afterEach, describe, expect, it, vi } from 'vitest';
import { probeBrowserCapabilities, provisionalBrowserCapabilities, WEBGPU_PROBE_MS } from './browser-capabilities.js';

// The probe reads `navigator`: each test gives it one (Chromium's own probes run in browser.test.ts).
function withNavigator(nav: Record<string, unknown>) {
  vi.stubGlobal('navigator', { hardwareConcurrency: 4, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0', ...nav });
}

const adapter = (features: string[]) => ({ features: new Set(features) });

describe('probeBrowserCapabilities: WebGPU', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('lists webgpu, and shader-f16 when the adapter has it', async () => {
    withNavigator({ gpu: { requestAdapter: async () => adapter(['shader-f16']) } });
    const caps = await probeBrowserCapabilities();
    expect(caps.backends[0]).toBe('webgpu');
    expect(caps.features).toContain('shader-f16');
  });

  it("asks for the adapter in a task of its own, not in the caller's (a page's first ask blocks its main thread)", async () => {
    const requestAdapter = vi.fn(async () => adapter([]));
    withNavigator({ gpu: { requestAdapter } });
    const probing = probeBrowserCapabilities();
    await Promise.resolve();
    expect(requestAdapter).not.toHaveBeenCalled();
    expect((await probing).backends).toEqual(['webgpu', 'wasm']);
    expect(requestAdapter).toHaveBeenCalledTimes(1);
  });

  it('leaves webgpu out when there is no adapter, or asking for one fails', async () => {
    for (const requestAdapter of [async () => null, async () => Promise.reject(new Error('GPU process lost'))]) {
      withNavigator({ gpu: { requestAdapter } });
      const caps = await probeBrowserCapabilities();
      expect(caps.backends).not.toContain('webgpu');
      expect(caps.features).not.toContain('shader-f16');
    }
  });

  it('does not wait for an adapter request that never answers: past the limit, the device has no webgpu', async () => {
    vi.useFakeTimers();
    withNavigator({ gpu: { requestAdapter: () => new Promise(() => undefined) } });
    let caps: Awaited<ReturnType<typeof probeBrowserCapabilities>> | undefined;
    const probing = probeBrowserCapabilities().then((c) => (caps = c));
    await vi.advanceTimersByTimeAsync(WEBGPU_PROBE_MS - 1);
    expect(caps).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await probing;
    expect(caps!.backends).toEqual(['wasm']);
  });

  it('an adapter that answers within the limit is used', async () => {
    vi.useFakeTimers();
    withNavigator({ gpu: { requestAdapter: () => new Promise((resolve) => setTimeout(() => resolve(adapter([])), WEBGPU_PROBE_MS / 2)) } });
    const probing = probeBrowserCapabilities();
    await vi.advanceTimersByTimeAsync(WEBGPU_PROBE_MS / 2);
    expect((await probing).backends).toEqual(['webgpu', 'wasm']);
  });
});

describe('provisionalBrowserCapabilities', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('lists WebGPU and shader-f16 wherever navigator.gpu exists, without asking for an adapter', () => {
    const requestAdapter = vi.fn(async () => null);
    withNavigator({ gpu: { requestAdapter }, deviceMemory: 8, storage: { estimate: vi.fn() } });
    const caps = provisionalBrowserCapabilities();
    expect(caps.backends).toEqual(['webgpu', 'wasm']);
    expect(caps.features).toContain('shader-f16');
    expect(caps.memoryMB).toBe(8192);
    expect(caps.storageMB).toBeUndefined();
    expect(requestAdapter).not.toHaveBeenCalled();
  });

  it('is a superset of what the probe then finds', async () => {
    for (const gpu of [undefined, { requestAdapter: async () => null }, { requestAdapter: async () => adapter([]) }, { requestAdapter: async () => adapter(['shader-f16']) }]) {
      withNavigator(gpu ? { gpu } : {});
      const provisional = provisionalBrowserCapabilities();
      const probed = await probeBrowserCapabilities();
      expect(provisional.backends).toEqual(expect.arrayContaining([...probed.backends]));
      expect(provisional.features).toEqual(expect.arrayContaining([...probed.features]));
    }
  });

  it('leaves out the backends the runtime cannot use', () => {
    withNavigator({ gpu: { requestAdapter: async () => adapter([]) } });
    expect(provisionalBrowserCapabilities({ runtimeSupports: (b) => b === 'wasm' }).backends).toEqual(['wasm']);
  });
});
