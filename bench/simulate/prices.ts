/**
 * The dated price table (bench/prices.json) and what a run and an idle month cost by it.
 * Every figure is list price for us-east-1; the JSON says when and from which pages.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const money = z.number().nonnegative();

export const pricesSchema = z.object({
  region: z.string(),
  currency: z.literal('USD'),
  asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  howChecked: z.string(),
  sources: z.array(z.string()).min(1),
  hoursPerMonth: z.number().positive(),
  lambda: z.object({ arm64PerGbSecond: money, requestsPerMillion: money, note: z.string() }),
  dynamodb: z.object({
    writeRequestUnitsPerMillion: money,
    readRequestUnitsPerMillion: money,
    storagePerGbMonth: money,
    pointInTimeRecoveryPerGbMonth: money,
    note: z.string(),
  }),
  apiGateway: z.object({
    httpApiRequestsPerMillion: money,
    webSocketMessagesPerMillion: money,
    webSocketConnectionMinutesPerMillion: money,
    note: z.string(),
  }),
  secretsManager: z.object({ perSecretMonth: money, per10kApiCalls: money }),
  cloudWatch: z.object({
    perAlarmMetricMonth: money,
    perDashboardMonth: money,
    perCustomMetricMonth: money,
    logsIngestionPerGb: money,
    logsStoragePerGbMonth: money,
    note: z.string(),
  }),
  eventBridge: z.object({ eventsPerMillion: money, note: z.string() }),
  /**
   * CloudFront in front of the HTTP API (docs/decisions/0011), dated on its own: written down
   * after the rest. Not used by the simulator yet.
   */
  cloudFront: z
    .object({
      httpsRequestsPerMillion: money,
      dataTransferOutPerGb: money,
      dataTransferToOriginPerGb: money,
      asOf: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
      source: z.string(),
      note: z.string(),
    })
    .optional(),
});
export type Prices = z.infer<typeof pricesSchema>;

export const PRICES_FILE = new URL('../prices.json', import.meta.url);

export function loadPrices(file: URL | string = PRICES_FILE): Prices {
  return pricesSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export interface CostLine {
  readonly what: string;
  readonly quantity: number;
  readonly unit: string;
  readonly usd: number;
}

export interface RunUsage {
  readonly lambdaRequests: number;
  readonly lambdaGbSeconds: number;
  readonly dynamoReadUnits: number;
  readonly dynamoWriteUnits: number;
  readonly apiRequests: number;
}

/** What the requests of one simulated run cost (usage-priced services only). */
export function runCost(
  usage: RunUsage,
  prices: Prices,
): { readonly usd: number; readonly lines: CostLine[] } {
  const lines: CostLine[] = [
    {
      what: 'Lambda requests',
      quantity: usage.lambdaRequests,
      unit: 'requests',
      usd: (usage.lambdaRequests / 1e6) * prices.lambda.requestsPerMillion,
    },
    {
      what: 'Lambda duration (arm64, INIT included)',
      quantity: usage.lambdaGbSeconds,
      unit: 'GB-s',
      usd: usage.lambdaGbSeconds * prices.lambda.arm64PerGbSecond,
    },
    {
      what: 'DynamoDB read request units',
      quantity: usage.dynamoReadUnits,
      unit: 'RRU',
      usd: (usage.dynamoReadUnits / 1e6) * prices.dynamodb.readRequestUnitsPerMillion,
    },
    {
      what: 'DynamoDB write request units',
      quantity: usage.dynamoWriteUnits,
      unit: 'WRU',
      usd: (usage.dynamoWriteUnits / 1e6) * prices.dynamodb.writeRequestUnitsPerMillion,
    },
    {
      what: 'API Gateway HTTP API requests (answered; 429s at the edge left out)',
      quantity: usage.apiRequests,
      unit: 'requests',
      usd: (usage.apiRequests / 1e6) * prices.apiGateway.httpApiRequestsPerMillion,
    },
  ];
  return { usd: lines.reduce((sum, line) => sum + line.usd, 0), lines };
}

export const round = (usd: number, digits = 4) => Math.round(usd * 10 ** digits) / 10 ** digits;
