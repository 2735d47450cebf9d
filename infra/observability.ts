import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { MetricName } from '#ports/metrics';

export interface ObservabilityProps {
  /** Namespace of the embedded metrics (`FQ_METRICS_NAMESPACE` of the functions). */
  readonly namespace: string;
  /** The `service` dimension of this deployment's metrics (`POWERTOOLS_SERVICE_NAME`). */
  readonly serviceName: string;
  readonly table: ITable;
  readonly httpStage: HttpStage;
  /** Every function of the deployment, by a short name used in alarm and widget titles. */
  readonly functions: ReadonlyMap<string, IFunction>;
  /** The functions whose failures mean lost live updates or pushes (fan-out, push). */
  readonly workers: ReadonlyMap<string, IFunction>;
  /** Where alarms (and their return to OK) are sent. @default - alarms only change state */
  readonly alarmTopic?: ITopic;
}

/**
 * Thresholds, in one place. A sale is a burst: alarms must fire within minutes
 * of real trouble and not on one dropped packet.
 */
const THRESHOLDS = {
  /** The admitter commits a tick every few seconds; two minutes without one is a stall. */
  stalledTickAgeSeconds: 60,
  /** Share of HTTP answers that are 5xx, in percent, over a minute with some traffic. */
  serverErrorPercent: 1,
  /** Below this many requests a minute, a few errors say little. */
  serverErrorMinRequests: 50,
  /** 503s we answered because DynamoDB (or another dependency) throttled, per minute. */
  throttledPerMinute: 25,
  fanoutFailuresPer5Minutes: 100,
  pushFailuresPer5Minutes: 10,
} as const;

/**
 * What a deployment measures, watches and shows: the alarms (to an optional SNS
 * topic) and one CloudWatch dashboard. The figures are the embedded metrics the
 * functions write (shared/ports/metrics.ts) beside AWS's own for API Gateway,
 * DynamoDB and Lambda.
 */
export class FairqueueObservability extends Construct {
  readonly alarms: readonly Alarm[];
  readonly dashboard: Dashboard;
  readonly #graph: (title: string, left: IMetric[], right?: IMetric[], width?: number) => GraphWidget;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.#graph = (title, left, right = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    const { namespace, serviceName } = props;
    const metric = (name: MetricName, statistic: string, period = Duration.minutes(1)) =>
      new Metric({
        namespace,
        metricName: name,
        dimensionsMap: { service: serviceName },
        statistic,
        period,
        label: `${name} (${statistic})`,
      });
    /** One line per event: the per-event metrics carry an `eventId` dimension. */
    const perEvent = (name: MetricName, statistic: string) =>
      new MathExpression({
        expression: `SEARCH('{${namespace},eventId,service} MetricName="${name}" service="${serviceName}"', '${statistic}', 60)`,
        label: '',
        period: Duration.minutes(1),
      });

    const alarms: Alarm[] = [];
    const alarm = (
      alarmId: string,
      description: string,
      target: IMetric,
      threshold: number,
      options: { evaluationPeriods?: number; missing?: TreatMissingData } = {},
    ) => {
      const created = new Alarm(this, alarmId, {
        alarmName: `${Stack.of(this).stackName}-${alarmId}`,
        alarmDescription: description,
        metric: target,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        treatMissingData: options.missing ?? TreatMissingData.NOT_BREACHING,
      });
      if (props.alarmTopic) {
        created.addAlarmAction(new SnsAction(props.alarmTopic));
        created.addOkAction(new SnsAction(props.alarmTopic));
      }
      alarms.push(created);
      return created;
    };

    // The admitter writes TickAge (seconds since the oldest active event's last committed
    // tick, 0 with none) at every tick. Old ages for two minutes: ticks are failing. No
    // figure at all for two minutes: the admitter is not running (schedule disabled, every
    // invocation failing at start), which is a stall too, open event or not.
    const stalled = alarm(
      'AdmitterStalled',
      'No committed admission tick for about two minutes while an event is active, or the admitter is not running at all: nobody new is being let in.',
      metric('TickAge', 'Maximum'),
      THRESHOLDS.stalledTickAgeSeconds,
      { evaluationPeriods: 2, missing: TreatMissingData.BREACHING },
    );

    const readThrottles = props.table.metric('ReadThrottleEvents', {
      statistic: 'Sum',
      period: Duration.minutes(1),
    });
    const writeThrottles = props.table.metric('WriteThrottleEvents', {
      statistic: 'Sum',
      period: Duration.minutes(1),
    });
    const dynamoThrottled = alarm(
      'DynamoDbThrottled',
      'DynamoDB throttled reads or writes of the queue table in two minutes running (hot keys or account limits); fans see 503s.',
      new MathExpression({
        expression: 'FILL(reads, 0) + FILL(writes, 0)',
        usingMetrics: { reads: readThrottles, writes: writeThrottles },
        label: 'throttle events',
        period: Duration.minutes(1),
      }),
      1,
      { evaluationPeriods: 2 },
    );
    const throttled = alarm(
      'Throttled503',
      'fairqueue answered many 503s (a dependency throttled or was unavailable).',
      metric('Throttled', 'Sum'),
      THRESHOLDS.throttledPerMinute,
      { evaluationPeriods: 2 },
    );

    const requests = props.httpStage.metricCount({ statistic: 'Sum', period: Duration.minutes(1) });
    const serverErrors = props.httpStage.metricServerError({ statistic: 'Sum', period: Duration.minutes(1) });
    const errorRate = alarm(
      'ServerErrorRate',
      `More than ${THRESHOLDS.serverErrorPercent}% of HTTP answers were 5xx in two minutes running.`,
      new MathExpression({
        expression: `IF(FILL(requests, 0) >= ${THRESHOLDS.serverErrorMinRequests}, 100 * FILL(errors, 0) / requests, 0)`,
        usingMetrics: { requests, errors: serverErrors },
        label: '5xx %',
        period: Duration.minutes(1),
      }),
      THRESHOLDS.serverErrorPercent,
      { evaluationPeriods: 2 },
    );

    const fanoutFailures = alarm(
      'FanoutFailures',
      'WebSocket posts keep failing: connected fans miss live updates (they still poll).',
      metric('FanoutFailures', 'Sum', Duration.minutes(5)),
      THRESHOLDS.fanoutFailuresPer5Minutes,
    );
    const pushFailures = alarm(
      'PushFailures',
      'Push publishes keep failing (SNS throttling, or a platform application that no longer works).',
      metric('PushFailed', 'Sum', Duration.minutes(5)),
      THRESHOLDS.pushFailuresPer5Minutes,
    );

    // Handlers turn every expected failure into an answer, so a Lambda error is a crash, a
    // timeout or a failed cold start; a throttle means the account's concurrency ran out.
    for (const [name, fn] of props.functions) {
      alarm(
        `${name}ErrorsOrThrottles`,
        `The ${name} function failed (crash, timeout, failed start) or was throttled.`,
        new MathExpression({
          expression: 'FILL(errors, 0) + FILL(throttles, 0)',
          usingMetrics: {
            errors: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
            throttles: fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }),
          },
          label: `${name} errors + throttles`,
          period: Duration.minutes(5),
        }),
        1,
      );
    }
    this.alarms = alarms;

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-fairqueue`,
      defaultInterval: Duration.hours(3),
    });
    const graph = this.#graph;
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# fairqueue — ${serviceName}\nEmbedded metrics in namespace \`${namespace}\` (dimension \`service\`; per event also \`eventId\`). What each figure means: \`shared/ports/metrics.ts\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: [stalled, dynamoThrottled, throttled, errorRate, fanoutFailures, pushFailures],
        width: 24,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      graph('Joins per minute', [metric('Joins', 'Sum')]),
      graph('Join latency (ms)', [metric('JoinLatency', 'p50'), metric('JoinLatency', 'p99')]),
      graph(
        'HTTP answers',
        [requests],
        [serverErrors, metric('Throttled', 'Sum'), metric('ServerErrors', 'Sum')],
      ),
    );
    this.dashboard.addWidgets(
      graph('Queue length (waiting places)', [metric('QueueLength', 'Maximum')]),
      graph(
        'Admissions per minute',
        [metric('Admitted', 'Sum')],
        [metric('Missed', 'Sum'), metric('Expired', 'Sum')],
      ),
      graph('Active sessions', [metric('ActiveSessions', 'Maximum')]),
    );
    this.dashboard.addWidgets(
      graph('Queue length per event', [perEvent('QueueLength', 'Maximum')]),
      graph('Admissions per event', [perEvent('Admitted', 'Sum')]),
      graph('Active sessions per event', [perEvent('ActiveSessions', 'Maximum')]),
    );
    this.dashboard.addWidgets(
      graph('Tick age (s) — alarm at 60 for 2 min', [metric('TickAge', 'Maximum')]),
      graph('Tick duration (ms)', [metric('TickDuration', 'p50'), metric('TickDuration', 'p99')]),
      graph(
        'Live updates and push',
        [metric('FanoutMessages', 'Sum'), metric('PushSent', 'Sum')],
        [metric('FanoutFailures', 'Sum'), metric('PushFailed', 'Sum')],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'DynamoDB',
        [
          props.table.metricConsumedReadCapacityUnits({ period: Duration.minutes(1) }),
          props.table.metricConsumedWriteCapacityUnits({ period: Duration.minutes(1) }),
        ],
        [readThrottles, writeThrottles],
        12,
      ),
      graph(
        'Lambda errors and throttles',
        [...props.functions].map(([name, fn]) =>
          fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(1), label: `${name} errors` }),
        ),
        [...props.functions].map(([name, fn]) =>
          fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(1), label: `${name} throttles` }),
        ),
        12,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Worker concurrency',
        [...props.workers].map(([name, fn]) =>
          fn.metric('ConcurrentExecutions', {
            statistic: 'Maximum',
            period: Duration.minutes(1),
            label: name,
          }),
        ),
        [...props.workers].map(([name, fn]) =>
          fn.metric('AsyncEventsDropped', {
            statistic: 'Sum',
            period: Duration.minutes(1),
            label: `${name} dropped`,
          }),
        ),
        24,
      ),
    );
  }

  /**
   * A dashboard row for the CloudFront distribution in front of the HTTP API: what fans and
   * backends asked of the edge, how much of it failed, and the bytes sent. CloudFront
   * publishes these in us-east-1 only (dimension `Region=Global`), so the widgets read them
   * from there whatever the stack's region; no alarm, since an alarm must live in the
   * metric's region, and the origin's own 5xx alarm covers what reaches the API.
   */
  addEdge(distributionId: string): void {
    const edge = (metricName: string, statistic: string, label: string) =>
      new Metric({
        namespace: 'AWS/CloudFront',
        metricName,
        dimensionsMap: { DistributionId: distributionId, Region: 'Global' },
        region: 'us-east-1',
        statistic,
        period: Duration.minutes(1),
        label,
      });
    this.dashboard.addWidgets(
      this.#graph('CloudFront requests per minute', [edge('Requests', 'Sum', 'requests')]),
      this.#graph('CloudFront error rate (%)', [
        edge('4xxErrorRate', 'Average', '4xx %'),
        edge('5xxErrorRate', 'Average', '5xx %'),
      ]),
      this.#graph('CloudFront bytes to viewers', [edge('BytesDownloaded', 'Sum', 'bytes')]),
    );
  }
}
