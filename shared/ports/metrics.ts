/**
 * What fairqueue measures, in one place, and the port that records it. On AWS
 * the figures go out as CloudWatch embedded metrics (Powertools, EMF log lines;
 * shared/adapters/emf-metrics.ts); the local runtime keeps them in a Prometheus
 * registry served at `GET /_local/metrics` (shared/adapters/prometheus-metrics.ts).
 * The alarms and the dashboard (infra/observability.ts) read these names.
 */

export type MetricKind = 'counter' | 'gauge' | 'histogram';
export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds';

export interface MetricDefinition {
  readonly kind: MetricKind;
  readonly unit: MetricUnit;
  /**
   * Also recorded per event (with an `eventId` dimension or label). The total is
   * recorded on its own by whoever knows how events add up (a sum of queue lengths,
   * the largest tick age).
   */
  readonly perEvent: boolean;
  readonly help: string;
}

export const METRICS = {
  Joins: { kind: 'counter', unit: 'Count', perEvent: false, help: 'New places handed out by join.' },
  JoinLatency: {
    kind: 'histogram',
    unit: 'Milliseconds',
    perEvent: false,
    help: 'Time to answer a join, in the handler.',
  },
  Throttled: {
    kind: 'counter',
    unit: 'Count',
    perEvent: false,
    help: 'Requests answered 503 because a dependency throttled or was unavailable.',
  },
  ServerErrors: {
    kind: 'counter',
    unit: 'Count',
    perEvent: false,
    help: 'Requests answered 500 (a bug).',
  },
  Admitted: { kind: 'counter', unit: 'Count', perEvent: true, help: 'Places admitted by admission ticks.' },
  QueueLength: {
    kind: 'gauge',
    unit: 'Count',
    perEvent: true,
    help: 'Places waiting (issued minus serving position) after the last tick.',
  },
  ActiveSessions: {
    kind: 'gauge',
    unit: 'Count',
    perEvent: true,
    help: 'Purchase sessions running after the last tick.',
  },
  Missed: {
    kind: 'counter',
    unit: 'Count',
    perEvent: true,
    help: 'Admitted places whose claim window lapsed unclaimed (released by a tick).',
  },
  Expired: {
    kind: 'counter',
    unit: 'Count',
    perEvent: true,
    help: 'Sessions whose purchase window ended without complete (released by a tick).',
  },
  TickDuration: {
    kind: 'histogram',
    unit: 'Milliseconds',
    perEvent: false,
    help: 'Time one admission tick over every active event took.',
  },
  TickAge: {
    kind: 'gauge',
    unit: 'Seconds',
    perEvent: true,
    help: 'Seconds since an active event last committed a tick, as a tick starts; the total is the largest (0 with no active event).',
  },
  FanoutMessages: {
    kind: 'counter',
    unit: 'Count',
    perEvent: false,
    help: 'WebSocket messages posted by fan-out workers.',
  },
  FanoutFailures: {
    kind: 'counter',
    unit: 'Count',
    perEvent: false,
    help: 'WebSocket posts that failed (not counting connections that were gone).',
  },
  PushSent: { kind: 'counter', unit: 'Count', perEvent: false, help: 'Push milestones delivered.' },
  PushFailed: {
    kind: 'counter',
    unit: 'Count',
    perEvent: false,
    help: 'Push publishes that failed (retried by the worker).',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

export interface Metrics {
  /**
   * Records one value: added to a counter, the latest level of a gauge, one sample
   * of a histogram. With `eventId` (per-event metrics only) it is that event's figure,
   * without it the deployment's total.
   */
  record(name: MetricName, value: number, eventId?: string): void;
  /** Sends what was recorded since the last flush (EMF log lines); a no-op where figures are scraped. */
  flush(): void;
}

export const NO_METRICS: Metrics = { record: () => {}, flush: () => {} };
