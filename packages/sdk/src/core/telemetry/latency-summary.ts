/** Latency percentiles in ms, as telemetry's `inference` event carries them. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

/** Keeps at most this many samples per window (uniform reservoir), so memory stays bounded. */
const RESERVOIR = 1024;

/** Collects inference latencies between two telemetry flushes. */
export class LatencyRecorder {
  private samples: number[] = [];
  private seen = 0;
  private sum = 0;
  private maxMs = 0;

  constructor(private readonly random: () => number = Math.random) {}

  get count(): number {
    return this.seen;
  }

  add(ms: number): void {
    this.seen++;
    this.sum += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    if (this.samples.length < RESERVOIR) this.samples.push(ms);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < RESERVOIR) this.samples[slot] = ms;
    }
  }

  /** The summary of the samples so far, and a fresh start. Null when nothing was recorded. */
  take(): { count: number; latency: LatencySummary } | null {
    if (this.seen === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
    const result = {
      count: this.seen,
      latency: { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: round(this.sum / this.seen), max: round(this.maxMs) },
    };
    this.samples = [];
    this.seen = 0;
    this.sum = 0;
    this.maxMs = 0;
    return result;
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
