import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const DEFAULT_METRICS_PREFIX = 'kairos_';

/**
 * Latency buckets for HTTP requests, in seconds: prom-client's defaults (5 ms … 10 s) plus 25 s, since an argon2id
 * password check under load and a slow SMTP-less courier call sit in the upper buckets.
 */
export const HTTP_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25];

/**
 * Prometheus metrics, exposed on the admin port at /metrics. One registry per server (tests run several in one
 * process); modules ask for their metrics here so names are declared once.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter<string>>();
  private readonly gauges = new Map<string, Gauge<string>>();
  private readonly histograms = new Map<string, Histogram<string>>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // prom-client's default metrics are already named process_* and nodejs_*: the prefix is only `kairos_`
    // (`kairos_process_cpu_seconds_total`, `kairos_nodejs_heap_size_used_bytes`), never `kairos_process_process_…`.
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: DEFAULT_METRICS_PREFIX });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    let metric = this.counters.get(name);
    if (!metric) {
      metric = new Counter({ name, help, labelNames, registers: [this.registry] });
      this.counters.set(name, metric);
    }
    return metric;
  }

  /** `collect` runs at each scrape (prom-client awaits it), for gauges read from the database. */
  gauge(name: string, help: string, labelNames: string[] = [], collect?: (this: Gauge<string>) => Promise<void> | void): Gauge<string> {
    let metric = this.gauges.get(name);
    if (!metric) {
      metric = new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
      this.gauges.set(name, metric);
    }
    return metric;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram<string> {
    let metric = this.histograms.get(name);
    if (!metric) {
      metric = new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
      this.histograms.set(name, metric);
    }
    return metric;
  }
}
