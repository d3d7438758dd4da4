/** Latency buckets of ferry_http_request_duration_seconds, in seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60];

/** Requests to one method and route: counts per status and a latency histogram, as plain numbers. */
export class RouteSeries {
  private readonly buckets = new Float64Array(BUCKETS.length);
  private readonly statuses = new Map<number, number>();
  private sum = 0;
  private count = 0;

  constructor(
    readonly method: string,
    readonly route: string,
  ) {}

  observe(status: number, seconds: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.buckets[i]!++;
        break;
      }
    }
  }

  counterLines(name: string, out: string[]): void {
    const labels = `method="${escape(this.method)}",route="${escape(this.route)}"`;
    for (const [status, n] of this.statuses) out.push(`${name}{${labels},status="${status}"} ${n}`);
  }

  histogramLines(name: string, out: string[]): void {
    if (this.count === 0) return;
    const labels = `method="${escape(this.method)}",route="${escape(this.route)}"`;
    let cumulative = 0;
    BUCKETS.forEach((le, i) => {
      cumulative += this.buckets[i]!;
      out.push(`${name}_bucket{le="${le}",${labels}} ${cumulative}`);
    });
    out.push(`${name}_bucket{le="+Inf",${labels}} ${this.count}`, `${name}_sum{${labels}} ${this.sum}`, `${name}_count{${labels}} ${this.count}`);
  }
}

const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/**
 * `ferry_http_requests_total` and `ferry_http_request_duration_seconds`, kept as plain counters
 * per route and turned into Prometheus text only when scraped: recording a request is a few
 * additions, with no label hashing (prom-client's labelled metrics cost ~3 % of a resolve).
 */
export class RequestMetrics {
  private readonly series = new Map<string, RouteSeries>();

  /** The series of one method and route, made on first use; hold on to it. */
  of(method: string, route: string): RouteSeries {
    const key = `${method} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      s = new RouteSeries(method, route);
      this.series.set(key, s);
    }
    return s;
  }

  /** Both metrics in the Prometheus text format (the same lines prom-client writes). */
  exposition(): string {
    const requests = [
      '# HELP ferry_http_requests_total HTTP requests by method, route and status',
      '# TYPE ferry_http_requests_total counter',
    ];
    const duration = [
      '# HELP ferry_http_request_duration_seconds HTTP request latency by method and route',
      '# TYPE ferry_http_request_duration_seconds histogram',
    ];
    for (const s of this.series.values()) {
      s.counterLines('ferry_http_requests_total', requests);
      s.histogramLines('ferry_http_request_duration_seconds', duration);
    }
    return `${requests.join('\n')}\n\n${duration.join('\n')}\n`;
  }
}
