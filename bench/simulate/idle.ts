/**
 * What the stack costs with no traffic at all, from what infra/ actually deploys: the
 * stack is synthesised (without bundling) and its template read for the scheduled rules,
 * the admitter's memory and tick settings, secrets, alarms (and the metrics each
 * evaluates) and dashboards. The admitter's idle tick is measured: the real Admitter ticks
 * an empty simulated table and its DynamoDB units and metric names are counted.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { Admitter } from '#app/admitter';
import type { MetricName, Metrics } from '#ports/metrics';
import { FairqueueStack } from '../../infra/fairqueue-stack.ts';
import { dynamoModelSchema, SimDynamoDB } from './dynamodb.ts';
import { type CostLine, type Prices, round } from './prices.ts';
import { Random } from './random.ts';

/** One EMF log line per flush of the admitter's figures (measured lines are 0.5–1 KB): an estimate. */
const EMF_BYTES_PER_FLUSH = 1024;
/** START, END and REPORT lines Lambda writes per invocation, about. */
const PLATFORM_LOG_BYTES_PER_INVOCATION = 400;

export interface StackInventory {
  readonly schedules: readonly { readonly expression: string; readonly perMonth: number }[];
  readonly admitter: { readonly memoryMb: number; readonly tickSeconds: number; readonly runSeconds: number };
  readonly secrets: number;
  readonly alarms: number;
  readonly alarmMetrics: number;
  readonly dashboards: number;
  readonly functions: number;
  readonly httpStageThrottle: { readonly rps: number; readonly burst: number } | null;
}

function cdkContext(): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || !('context' in parsed)) return {};
  const { context } = parsed;
  return typeof context === 'object' && context !== null ? { ...context } : {};
}

function perMonth(expression: string, hoursPerMonth: number): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!match) throw new Error(`schedule ${expression} is not a rate() the idle cost understands`);
  const every = Number(match[1]);
  const unitMinutes = match[2]?.startsWith('minute') ? 1 : match[2]?.startsWith('hour') ? 60 : 1440;
  return (hoursPerMonth * 60) / (every * unitMinutes);
}

/** The deployed stack's inventory, read from a synthesised template of infra/ (defaults). */
export function stackInventory(hoursPerMonth: number): StackInventory {
  const app = new App({ context: { ...cdkContext(), 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(new FairqueueStack(app, 'Inventory', {}));
  const props = (type: string) =>
    Object.values(template.findResources(type)).map(
      (r) => (r as { Properties: Record<string, unknown> }).Properties,
    );
  const schedules = props('AWS::Events::Rule')
    .map((p) => p.ScheduleExpression)
    .filter((e): e is string => typeof e === 'string')
    .map((expression) => ({ expression, perMonth: perMonth(expression, hoursPerMonth) }));
  const functions = props('AWS::Lambda::Function');
  const admitter = functions.find((f) => {
    const variables = (f.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables;
    return variables?.FQ_TICK_SECONDS !== undefined;
  });
  const variables = (admitter?.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables;
  if (!admitter || !variables)
    throw new Error('the synthesised stack has no admitter function (FQ_TICK_SECONDS)');
  const alarms = props('AWS::CloudWatch::Alarm');
  // A metric-math alarm is billed per metric it reads; a plain alarm is one metric.
  const alarmMetrics = alarms.reduce((sum, alarm) => {
    const metrics = alarm.Metrics as { MetricStat?: unknown }[] | undefined;
    return sum + (metrics ? metrics.filter((m) => m.MetricStat !== undefined).length : 1);
  }, 0);
  const stage = props('AWS::ApiGatewayV2::Stage')
    .map(
      (p) =>
        p.DefaultRouteSettings as { ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number } | undefined,
    )
    .find((s) => s?.ThrottlingRateLimit !== undefined && s.ThrottlingRateLimit >= 2000);
  return {
    schedules,
    admitter: {
      memoryMb: Number(admitter.MemorySize ?? 128),
      tickSeconds: Number(variables.FQ_TICK_SECONDS),
      runSeconds: Number(variables.FQ_ADMITTER_RUN_SECONDS ?? 55),
    },
    secrets: props('AWS::SecretsManager::Secret').length,
    alarms: alarms.length,
    alarmMetrics,
    dashboards: props('AWS::CloudWatch::Dashboard').length,
    functions: functions.length,
    httpStageThrottle:
      stage?.ThrottlingRateLimit !== undefined
        ? { rps: stage.ThrottlingRateLimit, burst: stage.ThrottlingBurstLimit ?? 0 }
        : null,
  };
}

/** One tick of the real admitter with no event: what it reads and which metrics it writes. */
export async function idleTick(): Promise<{
  readUnits: number;
  writeUnits: number;
  requests: number;
  metrics: number;
}> {
  const engine = new SimDynamoDB('idle', dynamoModelSchema.parse({}), null, new Random(1));
  const names = new Set<string>();
  const metrics: Metrics = {
    record: (name: MetricName, _value: number, eventId?: string) => {
      names.add(`${name}${eventId ? `@${eventId}` : ''}`);
    },
    flush: () => {},
  };
  const admitter = new Admitter(new DynamoQueueStore(new DynamoTable(engine.immediateClient(), 'idle')), {
    tickSeconds: 5,
    metrics,
  });
  await admitter.tickAll();
  let readUnits = 0;
  let writeUnits = 0;
  let requests = 0;
  for (const counter of engine.byOperation.values()) {
    readUnits += counter.readUnits;
    writeUnits += counter.writeUnits;
    requests += counter.requests;
  }
  return { readUnits, writeUnits, requests, metrics: names.size };
}

export interface IdleCost {
  readonly perMonthUsd: number;
  readonly lines: readonly CostLine[];
  readonly inventory: StackInventory;
  readonly notModelled: readonly string[];
}

export async function idleCost(prices: Prices): Promise<IdleCost> {
  const inventory = stackInventory(prices.hoursPerMonth);
  const tick = await idleTick();
  const runsPerMonth = inventory.schedules.reduce((sum, s) => sum + s.perMonth, 0);
  const { admitter } = inventory;
  // Admitter.run ticks at 0, tick, 2·tick … while the next tick starts within runSeconds.
  const ticksPerRun = Math.ceil(admitter.runSeconds / admitter.tickSeconds);
  const ticksPerMonth = runsPerMonth * ticksPerRun;
  // Billed for the whole run: the invocation sleeps between ticks, and sleeping is billed.
  const gbSeconds =
    runsPerMonth * (admitter.memoryMb / 1024) * ((ticksPerRun - 1) * admitter.tickSeconds + 0.05);
  const logGb =
    (ticksPerMonth * EMF_BYTES_PER_FLUSH + runsPerMonth * PLATFORM_LOG_BYTES_PER_INVOCATION) / 1024 ** 3;
  const lines: CostLine[] = [
    {
      what: `Admitter Lambda duration (${admitter.memoryMb} MB, ${ticksPerRun} ticks every ${admitter.tickSeconds} s per run)`,
      quantity: gbSeconds,
      unit: 'GB-s',
      usd: gbSeconds * prices.lambda.arm64PerGbSecond,
    },
    {
      what: 'Admitter Lambda requests (scheduled runs)',
      quantity: runsPerMonth,
      unit: 'requests',
      usd: (runsPerMonth / 1e6) * prices.lambda.requestsPerMillion,
    },
    {
      what: `Schedule rule events (${inventory.schedules.map((s) => s.expression).join(', ')})`,
      quantity: runsPerMonth,
      unit: 'events',
      usd: (runsPerMonth / 1e6) * prices.eventBridge.eventsPerMillion,
    },
    {
      what: 'DynamoDB reads of idle ticks (the active-event list)',
      quantity: ticksPerMonth * tick.readUnits,
      unit: 'RRU',
      usd: ((ticksPerMonth * tick.readUnits) / 1e6) * prices.dynamodb.readRequestUnitsPerMillion,
    },
    {
      what: 'Secrets Manager secrets (signing key ring)',
      quantity: inventory.secrets,
      unit: 'secrets',
      usd: inventory.secrets * prices.secretsManager.perSecretMonth,
    },
    {
      what: `CloudWatch alarms (${inventory.alarms} alarms)`,
      quantity: inventory.alarmMetrics,
      unit: 'alarm metrics',
      usd: inventory.alarmMetrics * prices.cloudWatch.perAlarmMetricMonth,
    },
    {
      what: 'CloudWatch dashboards',
      quantity: inventory.dashboards,
      unit: 'dashboards',
      usd: inventory.dashboards * prices.cloudWatch.perDashboardMonth,
    },
    {
      what: 'CloudWatch custom metrics the idle admitter writes (EMF)',
      quantity: tick.metrics,
      unit: 'metrics',
      usd: tick.metrics * prices.cloudWatch.perCustomMetricMonth,
    },
    {
      what: 'CloudWatch Logs ingestion (EMF lines and Lambda platform lines of the admitter)',
      quantity: logGb,
      unit: 'GB',
      usd: logGb * (prices.cloudWatch.logsIngestionPerGb + prices.cloudWatch.logsStoragePerGbMonth),
    },
  ];
  return {
    perMonthUsd: round(
      lines.reduce((sum, line) => sum + line.usd, 0),
      2,
    ),
    lines: lines.map((line) => ({ ...line, quantity: round(line.quantity, 2), usd: round(line.usd, 4) })),
    inventory,
    notModelled: [
      'DynamoDB storage and point-in-time recovery of an empty table (cents)',
      'the key rotation every 30 days (one invocation and a few Secrets Manager calls)',
      'free tiers (Lambda, CloudWatch, the first three dashboards), which would lower this',
    ],
  };
}
