/**
 * Metrics on AWS: CloudWatch embedded metric format through Powertools. Each
 * flush writes one EMF log line with the deployment's figures (dimension
 * `service`, which the alarms watch) and one line per event with an `eventId`
 * dimension as well (the dashboard's per-event view). EMF costs log bytes, not
 * API calls: no PutMetricData on any request path.
 */
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { METRICS, type MetricName, type Metrics } from '#ports/metrics';

export class EmfMetrics implements Metrics {
  readonly #options: { namespace: string; serviceName: string };
  readonly #total: PowertoolsMetrics;
  /** Per-event figures since the last flush: one Powertools instance per event, dropped at flush. */
  readonly #events = new Map<string, PowertoolsMetrics>();

  constructor(options: { namespace: string; serviceName: string }) {
    this.#options = options;
    this.#total = new PowertoolsMetrics(options);
  }

  record(name: MetricName, value: number, eventId?: string): void {
    const { unit, perEvent } = METRICS[name];
    if (eventId === undefined || !perEvent) {
      this.#total.addMetric(name, unit, value);
      return;
    }
    let event = this.#events.get(eventId);
    if (!event) {
      event = new PowertoolsMetrics(this.#options);
      event.addDimension('eventId', eventId);
      this.#events.set(eventId, event);
    }
    event.addMetric(name, unit, value);
  }

  flush(): void {
    if (this.#total.hasStoredMetrics()) this.#total.publishStoredMetrics();
    for (const event of this.#events.values()) event.publishStoredMetrics();
    this.#events.clear();
  }
}
