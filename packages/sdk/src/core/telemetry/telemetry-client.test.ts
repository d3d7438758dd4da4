import { describe, expect, it, vi } from 'vitest';
import type { TelemetryBatch } from '@ferry/protocol';
import { AsyncLock } from '../cache/async-lock.js';
import { MemoryMetaStore } from '../cache/memory-storage.js';
import { FerryApi } from '../http/ferry-api.js';
import { DEFAULT_RETRY } from '../http/retry.js';
import { TelemetryClient, type TelemetryClientOptions } from './telemetry-client.js';
import { LatencyRecorder } from './latency-summary.js';

function setup(options: Partial<TelemetryClientOptions> & { status?: () => number } = {}) {
  const batches: { batch: TelemetryBatch; keepalive: boolean }[] = [];
  let clock = 1_000_000;
  const fetchFn: typeof fetch = async (_input, init) => {
    const status = options.status?.() ?? 202;
    if (status === 202) batches.push({ batch: JSON.parse(String(init?.body)) as TelemetryBatch, keepalive: init?.keepalive === true });
    return new Response(JSON.stringify(status === 202 ? { accepted: 1, duplicates: 0 } : { error: { code: 'internal_error', message: 'x' } }), { status });
  };
  const api = new FerryApi({
    serverUrl: 'http://ferry.test',
    appKey: 'k',
    fetch: fetchFn,
    retry: { ...DEFAULT_RETRY, retries: 0 },
    requestTimeoutMs: 1000,
    now: () => clock,
    network: () => ({}),
  });
  const meta = options.meta ?? new MemoryMetaStore();
  let hide: (() => void) | null = null;
  const make = () =>
    new TelemetryClient({
      api,
      meta,
      now: () => clock,
      device: async () => ({ id: 'install-1', platform: 'node' }),
      onHide: (listener) => {
        hide = listener;
        return () => (hide = null);
      },
      flushIntervalMs: 3_600_000,
      ...options,
    });
  return { batches, meta, make, advance: (ms: number) => (clock += ms), hide: () => hide?.() };
}

const event = (i: number) => ({ type: 'resolve' as const, model: 'digits', version: i });

describe('TelemetryClient', () => {
  it('batches events with ids and timestamps and sends them on flush', async () => {
    const t = setup();
    const client = t.make();
    client.record(event(1));
    client.record(event(2));
    await client.flush();
    expect(t.batches).toHaveLength(1);
    const { batch } = t.batches[0]!;
    expect(batch.device).toEqual({ id: 'install-1', platform: 'node' });
    expect(batch.events.map((e) => e.version)).toEqual([1, 2]);
    expect(batch.events[0]!.id).toMatch(/^[0-9a-f]{32}$/);
    expect(batch.events[0]!.at).toBe(1_000_000);
    expect(client.pending).toEqual([]);
  });

  it('sends as soon as the batch size is reached', async () => {
    const t = setup({ batchSize: 3 });
    const client = t.make();
    for (let i = 0; i < 3; i++) client.record(event(i));
    await vi.waitFor(() => expect(t.batches).toHaveLength(1));
  });

  it('keeps events across restarts while offline, bounded to the newest', async () => {
    let status = 503;
    const t = setup({ maxQueued: 5, status: () => status });
    const first = t.make();
    for (let i = 0; i < 8; i++) first.record(event(i));
    await expect(first.flush()).rejects.toBeTruthy();
    await first.close();
    status = 202;
    const second = t.make();
    await second.flush();
    expect(t.batches.flatMap((b) => b.batch.events.map((e) => e.version))).toEqual([3, 4, 5, 6, 7]);
  });

  it('two tabs on one cache, both offline: each persists its events beside the other’s; a later start sends all, and a tab that sent its own leaves the other’s stored', async () => {
    let status = 503;
    const meta = new MemoryMetaStore();
    // Writes that take a while, as IndexedDB's do, ordered by the cache's shared lock.
    const set = meta.set.bind(meta);
    meta.set = async (key, value) => {
      await new Promise((r) => setTimeout(r, 5));
      return set(key, value);
    };
    const lock = new AsyncLock();
    const t = setup({ meta, status: () => status, exclusive: (section) => lock.run(section) });
    const [a, b] = [t.make(), t.make()];
    a.record(event(1));
    b.record(event(2));
    await Promise.all([a.flush().catch(() => undefined), b.flush().catch(() => undefined)]);
    status = 202;
    // The first tab comes back online and sends what it holds: the second's event stays stored.
    await a.close();
    expect(t.batches.flatMap((x) => x.batch.events.map((e) => e.version))).toEqual([1]);
    await b.stop();
    const later = t.make();
    await later.flush();
    expect(t.batches.flatMap((x) => x.batch.events.map((e) => e.version))).toEqual([1, 2]);
  });

  it('backs off after a failure before the interval retries', async () => {
    let status = 503;
    const t = setup({ status: () => status });
    const client = t.make();
    client.record(event(1));
    await expect(client.flush()).rejects.toBeTruthy();
    const internals = client as unknown as { retryAt: number };
    expect(internals.retryAt).toBeGreaterThan(1_000_000);
    status = 202;
    await client.flush();
    expect(internals.retryAt).toBe(0);
  });

  it('drops a batch the server refuses as invalid instead of blocking the queue', async () => {
    const t = setup({ status: () => 400 });
    const client = t.make();
    client.record(event(1));
    await client.flush();
    expect(client.pending).toEqual([]);
  });

  it('flushes with keepalive when the page is hidden', async () => {
    const t = setup();
    const client = t.make();
    client.start();
    client.record(event(1));
    t.hide();
    await vi.waitFor(() => expect(t.batches).toHaveLength(1));
    expect(t.batches[0]!.keepalive).toBe(true);
    client.stop();
  });

  it('opting out deletes the queue and sends nothing, also after a restart', async () => {
    const t = setup();
    const client = t.make();
    client.record(event(1));
    await client.setEnabled(false);
    client.record(event(2));
    await client.flush();
    const restarted = t.make();
    restarted.record(event(3));
    await restarted.flush();
    expect(t.batches).toEqual([]);
    expect(restarted.isEnabled).toBe(false);
    expect(await t.meta.get('telemetry/queue')).toBeUndefined();
  });

  it('opting out in one tab stops the others: they send nothing more, and nothing queued is written back', async () => {
    let status = 503;
    const lock = new AsyncLock();
    const t = setup({ status: () => status, exclusive: (section) => lock.run(section) });
    const [a, b] = [t.make(), t.make()];
    b.record(event(1));
    await b.flush().catch(() => undefined); // offline: stored
    expect(await t.meta.get('telemetry/queue')).toHaveLength(1);
    await a.setEnabled(false);
    status = 202;
    b.record(event(2));
    await b.flush();
    await b.close();
    expect(t.batches).toEqual([]);
    expect(b.isEnabled).toBe(false);
    expect(await t.meta.get('telemetry/queue')).toBeUndefined();
  });

  it('telemetry: false deletes what an earlier run queued', async () => {
    const t = setup({ status: () => 503 });
    const first = t.make();
    for (let i = 0; i < 3; i++) first.record(event(i));
    await expect(first.flush()).rejects.toBeTruthy();
    await first.close();
    expect(await t.meta.get('telemetry/queue')).toHaveLength(3);
    const off = new TelemetryClient({ api: undefined as never, meta: t.meta, now: () => 0, device: async () => ({ id: 'install-1', platform: 'node' }), enabled: false });
    off.start();
    await off.close();
    expect(await t.meta.get('telemetry/queue')).toBeUndefined();
  });

  it('summarises inference latencies per model, variant and backend', async () => {
    const t = setup();
    const client = t.make();
    const ctx = { model: 'digits', version: 1, variant: 'original', backend: 'wasm', release: 1, rollout: null };
    for (let i = 1; i <= 100; i++) client.recordInference(ctx, i);
    client.recordInference({ ...ctx, backend: 'webgpu' }, 5);
    await client.flush();
    const events = t.batches[0]!.batch.events;
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ type: 'inference', backend: 'wasm', count: 100, latency: { p50: 50, p95: 95, p99: 99, mean: 50.5, max: 100 } });
    expect(events[1]).toMatchObject({ backend: 'webgpu', count: 1 });
  });
});

describe('LatencyRecorder', () => {
  it('keeps a bounded reservoir', () => {
    const r = new LatencyRecorder(() => 0.999);
    for (let i = 0; i < 10_000; i++) r.add(1);
    expect(r.take()).toMatchObject({ count: 10_000, latency: { p50: 1, max: 1 } });
    expect(r.take()).toBeNull();
  });
});
