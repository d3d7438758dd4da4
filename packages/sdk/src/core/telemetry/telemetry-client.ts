import type { TelemetryBatch, TelemetryEvent } from '@ferry/protocol';
import { ApiError, ServerError } from '../errors.js';
import type { FerryApi } from '../http/ferry-api.js';
import { backoffDelay, DEFAULT_RETRY } from '../http/retry.js';
import type { MetaStore, PlatformStorage } from '../platform.js';
import { randomId } from '../random-id.js';
import { LatencyRecorder } from './latency-summary.js';

/** Telemetry settings. Events carry a pseudonymous install id and no personal data. */
export interface TelemetryOptions {
  /** Send telemetry at all. @defaultValue true */
  enabled?: boolean;
  /** Send queued events at least this often, in ms. @defaultValue 30000 */
  flushIntervalMs?: number;
  /** Send as soon as this many events are queued. @defaultValue 50 */
  batchSize?: number;
  /** Keep at most this many unsent events (oldest dropped first). @defaultValue 1000 */
  maxQueued?: number;
}

/** An event as the SDK records it; the client adds `id` and `at`. */
export type TelemetryRecord = Omit<TelemetryEvent, 'id' | 'at'>;

/** Identifies the model an inference latency belongs to. */
export interface InferenceContext {
  model: string;
  version: number;
  variant: string;
  backend: string;
  release: number;
  rollout: TelemetryEvent['rollout'];
}

export interface TelemetryClientOptions extends TelemetryOptions {
  api: FerryApi;
  meta: MetaStore;
  now: () => number;
  device: () => Promise<TelemetryBatch['device']>;
  onHide?: ((listener: () => void) => () => void) | undefined;
  random?: () => number;
  /** The cache's lock shared with other clients (tabs, workers) of the same store ({@link PlatformStorage.exclusive}). */
  exclusive?: (<T>(section: () => Promise<T>) => Promise<T>) | undefined;
}

const QUEUE_KEY = 'telemetry/queue';
const OPT_OUT_KEY = 'telemetry/opt-out';
/** The server takes at most 500 events per batch. */
const MAX_BATCH = 500;
/** `keepalive` requests may carry 64 KiB at most, all pending keepalive requests together. */
const KEEPALIVE_BYTES = 60_000;
const PERSIST_DELAY_MS = 1000;

/**
 * Queues telemetry events, persists them (so they survive going offline or closing the app),
 * and sends them in batches: on an interval, when the queue reaches the batch size, and when the
 * page is hidden (with `keepalive`, as `sendBeacon` cannot carry the app key header).
 * Failed sends are retried with backoff; events whose batch the server refuses as invalid are dropped.
 */
export class TelemetryClient {
  private queue: TelemetryEvent[] = [];
  /**
   * Ids of events this client sent or dropped: the stored queue is shared with the other clients
   * of the cache (tabs, workers), so a persist keeps their events and leaves out only these.
   */
  private readonly done = new Set<string>();
  private readonly latencies = new Map<string, { context: InferenceContext; recorder: LatencyRecorder }>();
  /** Handles pass the same context object on every run: its key is built once. */
  private readonly latencyKeys = new WeakMap<InferenceContext, string>();
  private enabled: boolean;
  private loaded: Promise<void>;
  private flushing: Promise<void> | null = null;
  private interval: ReturnType<typeof setInterval> | null = null;
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private retryAt = 0;
  private unsubscribeHide: (() => void) | null = null;
  private readonly options: Required<TelemetryOptions>;

  constructor(private readonly deps: TelemetryClientOptions) {
    this.options = {
      enabled: deps.enabled ?? true,
      flushIntervalMs: deps.flushIntervalMs ?? 30_000,
      batchSize: deps.batchSize ?? 50,
      maxQueued: deps.maxQueued ?? 1000,
    };
    this.enabled = this.options.enabled;
    this.loaded = this.load();
  }

  /** Whether events are recorded and sent. */
  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Unsent events (for tests and diagnostics). */
  get pending(): readonly TelemetryEvent[] {
    return this.queue;
  }

  /** Turns telemetry on or off; off also deletes unsent events. The choice is remembered on the device. */
  async setEnabled(enabled: boolean): Promise<void> {
    await this.loaded;
    this.enabled = enabled;
    await this.deps.meta.set(OPT_OUT_KEY, !enabled);
    if (enabled) return this.start();
    this.optedOut();
    // (Under the shared lock: another tab's persist does not write the queue back after this.)
    await this.shared(() => this.deps.meta.delete(QUEUE_KEY));
  }

  /** Off: nothing queued, nothing sent. */
  private optedOut(): void {
    this.enabled = false;
    this.queue = [];
    this.latencies.clear();
    this.stop();
  }

  /** `section` under the cache's lock shared with other clients, where there is one. */
  private shared<T>(section: () => Promise<T>): Promise<T> {
    return this.deps.exclusive ? this.deps.exclusive(section) : section();
  }

  /** Queues one event. */
  record(event: TelemetryRecord): void {
    if (!this.enabled) return;
    this.queue.push({ ...event, id: randomId(), at: this.deps.now() } as TelemetryEvent);
    // (The oldest dropped are done: a persist does not take them back from the stored queue.)
    if (this.queue.length > this.options.maxQueued) this.finished(this.queue.splice(0, this.queue.length - this.options.maxQueued));
    this.schedulePersist();
    if (this.queue.length >= this.options.batchSize && this.deps.now() >= this.retryAt) void this.flush().catch(() => undefined);
  }

  /** Adds one inference latency; they are sent as a summary per model, variant and backend. */
  recordInference(context: InferenceContext, ms: number): void {
    if (!this.enabled) return;
    let key = this.latencyKeys.get(context);
    if (key === undefined) {
      key = `${context.model}|${context.version}|${context.variant}|${context.backend}`;
      this.latencyKeys.set(context, key);
    }
    let entry = this.latencies.get(key);
    if (!entry) {
      entry = { context, recorder: new LatencyRecorder(this.deps.random) };
      this.latencies.set(key, entry);
    }
    entry.recorder.add(ms);
  }

  /**
   * Sends what is queued. With `keepalive` (page hiding) only what fits one keepalive request is
   * sent and failures are not retried until the next start.
   */
  flush(options: { keepalive?: boolean } = {}): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.send(options.keepalive ?? false).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Starts the flush interval and the page-hide listener. */
  start(): void {
    if (!this.enabled || this.interval) return;
    this.interval = setInterval(() => {
      if (this.deps.now() >= this.retryAt) void this.flush().catch(() => undefined);
    }, this.options.flushIntervalMs);
    (this.interval as { unref?: () => void }).unref?.();
    this.unsubscribeHide = this.deps.onHide?.(() => void this.flush({ keepalive: true }).catch(() => undefined)) ?? null;
  }

  /** Stops timers and listeners (the queue stays persisted). */
  stop(): void {
    if (this.interval) clearInterval(this.interval);
    this.interval = null;
    this.unsubscribeHide?.();
    this.unsubscribeHide = null;
  }

  /** Sends what is queued, persists the rest, and stops. */
  async close(): Promise<void> {
    this.stop();
    await this.flush().catch(() => undefined);
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    await this.persist();
  }

  private async load(): Promise<void> {
    try {
      if ((await this.deps.meta.get<boolean>(OPT_OUT_KEY)) === true) this.enabled = false;
      // Off (`telemetry: false` or opted out): what an earlier run queued is deleted, not kept.
      if (!this.enabled) await this.deps.meta.delete(QUEUE_KEY);
      const stored = this.enabled ? await this.deps.meta.get<TelemetryEvent[]>(QUEUE_KEY) : undefined;
      if (Array.isArray(stored)) {
        const known = new Set(this.queue.map((e) => e.id));
        this.queue = [...stored.filter((e) => !known.has(e.id)), ...this.queue].slice(-this.options.maxQueued);
      }
    } catch {
      // A damaged queue is not worth failing for.
    }
  }

  private schedulePersist(): void {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      void this.persist().catch(() => undefined);
    }, PERSIST_DELAY_MS);
    (this.persistTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Writes the queue: this client's events, and those another client of the cache stored that this
   * one has not sent (each sends what it finds there at start; the server drops duplicates by id).
   */
  private async persist(): Promise<void> {
    if (!this.enabled) return;
    const { meta } = this.deps;
    await this.shared(async () => {
      // Opted out meanwhile, here or in another tab: the stored queue goes, nothing is written back.
      if (!this.enabled || (await meta.get<boolean>(OPT_OUT_KEY)) === true) {
        this.optedOut();
        await meta.delete(QUEUE_KEY);
        return;
      }
      const stored = await meta.get<TelemetryEvent[]>(QUEUE_KEY);
      const mine = new Set(this.queue.map((e) => e.id));
      const others = Array.isArray(stored) ? stored.filter((e) => !mine.has(e.id) && !this.done.has(e.id)) : [];
      const queue = [...others, ...this.queue].slice(-this.options.maxQueued);
      if (queue.length) await meta.set(QUEUE_KEY, queue);
      else await meta.delete(QUEUE_KEY);
    });
  }

  /** Notes events as sent or dropped (see {@link done}), keeping the newest ids only. */
  private finished(events: readonly TelemetryEvent[]): void {
    for (const e of events) this.done.add(e.id);
    // (An id sent long ago no longer needs leaving out; the server drops a duplicate anyway.)
    for (const id of this.done) {
      if (this.done.size <= 4 * this.options.maxQueued) break;
      this.done.delete(id);
    }
  }

  private takeLatencies(): void {
    for (const [key, { context, recorder }] of this.latencies) {
      const summary = recorder.take();
      if (summary) this.record({ type: 'inference', ...context, ...summary });
      else this.latencies.delete(key);
    }
  }

  private async send(keepalive: boolean): Promise<void> {
    await this.loaded;
    if (!this.enabled) return;
    // The user may have opted out in another tab or worker since this client started.
    if ((await this.deps.meta.get<boolean>(OPT_OUT_KEY)) === true) {
      this.optedOut();
      return;
    }
    this.takeLatencies();
    const device = await this.deps.device();
    while (this.queue.length) {
      let events = this.queue.slice(0, MAX_BATCH);
      if (keepalive) {
        while (events.length > 1 && JSON.stringify({ device, events }).length > KEEPALIVE_BYTES) events = events.slice(0, Math.ceil(events.length / 2));
      }
      try {
        await this.deps.api.sendTelemetry({ device, events }, { keepalive });
        this.failures = 0;
        this.retryAt = 0;
      } catch (err) {
        if (err instanceof ApiError && !(err instanceof ServerError) && err.status !== undefined && err.status < 500 && err.status !== 401) {
          // The server will never take this batch: drop it rather than block the queue forever.
        } else {
          this.failures++;
          this.retryAt = this.deps.now() + backoffDelay(this.failures, { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 300_000 }, this.deps.random);
          await this.persist();
          throw err;
        }
      }
      const sent = new Set(events.map((e) => e.id));
      this.queue = this.queue.filter((e) => !sent.has(e.id));
      this.finished(events);
      if (keepalive) break;
    }
    await this.persist();
  }
}
