/**
 * Metrics in the local runtime: the same figures as on AWS, kept in a Prometheus
 * registry (prom-client) and served at `GET /_local/metrics`, so a developer sees
 * them without an AWS account. Per-event metrics carry an `eventId` label; their
 * totals are left to the scraper (`sum`, `max`), as Prometheus intends.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS, type MetricName, type Metrics } from '#ports/metrics';

type Instrument = Counter<string> | Gauge<string> | Histogram<string>;

/** `JoinLatency` → `fairqueue_join_latency_milliseconds`. */
function promName(name: MetricName): string {
  const snake = name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  const { unit, kind } = METRICS[name];
  const suffix = unit === 'Milliseconds' ? '_milliseconds' : unit === 'Seconds' ? '_seconds' : '';
  return `fairqueue_${snake}${suffix}${kind === 'counter' ? '_total' : ''}`;
}

const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

export class PrometheusMetrics implements Metrics {
  readonly registry = new Registry();
  readonly #instruments = new Map<MetricName, Instrument>();

  constructor() {
    for (const [name, def] of Object.entries(METRICS) as [MetricName, (typeof METRICS)[MetricName]][]) {
      const config = {
        name: promName(name),
        help: def.help,
        labelNames: def.perEvent ? ['eventId'] : [],
        registers: [this.registry],
      };
      const instrument =
        def.kind === 'counter'
          ? new Counter(config)
          : def.kind === 'gauge'
            ? new Gauge(config)
            : new Histogram({ ...config, buckets: LATENCY_BUCKETS_MS });
      this.#instruments.set(name, instrument);
    }
  }

  record(name: MetricName, value: number, eventId?: string): void {
    const instrument = this.#instruments.get(name);
    if (!instrument) return;
    const perEvent = METRICS[name].perEvent;
    // A per-event metric's total is the scraper's sum or max of the labelled series.
    if (perEvent && eventId === undefined) return;
    const labels = perEvent && eventId !== undefined ? { eventId } : {};
    if (instrument instanceof Counter) instrument.inc(labels, value);
    else if (instrument instanceof Gauge) instrument.set(labels, value);
    else instrument.observe(labels, value);
  }

  flush(): void {}

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
