/**
 * The one typed configuration object, read from the environment once at load.
 * A missing or malformed required value fails at start with a message that
 * names the variable, never later inside a request.
 */
import {
  DEFAULT_MAX_CONNECTIONS_PER_PLACE,
  DEFAULT_MAX_MESSAGES_PER_MINUTE,
} from '#domain/connection-limits';

export interface AppConfig {
  /** `dynamodb` (AWS, DynamoDB Local, any endpoint via AWS_ENDPOINT_URL) or `memory` (embedded, local only). */
  readonly store: 'dynamodb' | 'memory';
  readonly tableName: string;
  /** Where signing keys live: Secrets Manager on AWS, a folder on disk locally. */
  readonly keys:
    | { readonly kind: 'secrets-manager'; readonly secretId: string }
    | { readonly kind: 'file'; readonly dir: string };
  /** `iss` of every token fairqueue signs. */
  readonly issuer: string;
  /** WebSocket URL handed to joiners; null until a WebSocket API is configured. */
  readonly wsUrl: string | null;
  /** When set, joins must carry an identity JWT from the ticketing platform. */
  readonly identity: { readonly issuer: string; readonly jwksUrl: string; readonly audience?: string } | null;
  /** Joins per client address per minute; 0 = off. */
  readonly joinRateLimitPerMinute: number;
  /** Seconds between admission ticks inside one admitter invocation. */
  readonly tickSeconds: number;
  /** How long one scheduled admitter invocation keeps ticking. */
  readonly admitterRunSeconds: number;
  /** How long verification keys are cached before the key store is read again. */
  readonly keyCacheSeconds: number;
  /** Real time: WebSocket connections, their fan-out, and push. */
  readonly realtime: {
    /** Partitions each event's connections are spread over; one fan-out worker each. */
    readonly shards: number;
    /** Posts in flight at once per fan-out worker. */
    readonly fanoutConcurrency: number;
    /** Open connections one place may hold; a new one beyond it closes the oldest. */
    readonly maxConnectionsPerPlace: number;
    /** Client messages one connection may send per minute; one more closes it. */
    readonly maxMessagesPerMinute: number;
    /** API Gateway management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`, or the local gateway). */
    readonly managementEndpoint: string | null;
    /** `lambda`: asynchronous invocations of the worker functions; `in-process`: the local runtime. */
    readonly notifier: 'lambda' | 'in-process';
    readonly fanoutFunction: string | null;
    readonly pushFunction: string | null;
    /** `sns` with platform application ARNs; `local`: the local sink; `off`: registration answers 503. */
    readonly push:
      | {
          readonly kind: 'sns';
          readonly fcmApplicationArn: string | null;
          readonly apnsApplicationArn: string | null;
          readonly apnsSandbox: boolean;
        }
      | { readonly kind: 'local' }
      | { readonly kind: 'off' };
  };
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function str(env: Env, name: string, fallback?: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`environment variable ${name} is required`);
}

function num(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new ConfigError(`environment variable ${name} must be a number >= ${min}, got "${raw}"`);
  }
  return value;
}

function readRealtime(env: Env): AppConfig['realtime'] {
  const notifier = str(env, 'FQ_NOTIFIER', 'lambda');
  if (notifier !== 'lambda' && notifier !== 'in-process') {
    throw new ConfigError(
      `environment variable FQ_NOTIFIER must be "lambda" or "in-process", got "${notifier}"`,
    );
  }
  const fcm = env.FQ_PUSH_FCM_APPLICATION_ARN || null;
  const apns = env.FQ_PUSH_APNS_APPLICATION_ARN || null;
  let push: AppConfig['realtime']['push'] = { kind: 'off' };
  if (env.FQ_PUSH === 'local') push = { kind: 'local' };
  else if (fcm || apns) {
    push = {
      kind: 'sns',
      fcmApplicationArn: fcm,
      apnsApplicationArn: apns,
      apnsSandbox: env.FQ_PUSH_APNS_SANDBOX === 'true',
    };
  }
  return {
    shards: Math.floor(num(env, 'FQ_WS_SHARDS', 16, 1)),
    fanoutConcurrency: Math.floor(num(env, 'FQ_FANOUT_CONCURRENCY', 64, 1)),
    maxConnectionsPerPlace: Math.floor(
      num(env, 'FQ_WS_MAX_CONNECTIONS_PER_PLACE', DEFAULT_MAX_CONNECTIONS_PER_PLACE, 1),
    ),
    maxMessagesPerMinute: Math.floor(
      num(env, 'FQ_WS_MAX_MESSAGES_PER_MINUTE', DEFAULT_MAX_MESSAGES_PER_MINUTE, 1),
    ),
    managementEndpoint: env.FQ_WS_MANAGEMENT_ENDPOINT || null,
    notifier,
    fanoutFunction: env.FQ_FANOUT_FUNCTION || null,
    pushFunction: env.FQ_PUSH_FUNCTION || null,
    push,
  };
}

export function readConfig(env: Env = process.env): AppConfig {
  const store = str(env, 'FQ_STORE', 'dynamodb');
  if (store !== 'dynamodb' && store !== 'memory') {
    throw new ConfigError(`environment variable FQ_STORE must be "dynamodb" or "memory", got "${store}"`);
  }
  const secretId = env.FQ_KEY_SECRET_ID;
  const identityIssuer = env.FQ_IDENTITY_ISSUER;
  const identityJwks = env.FQ_IDENTITY_JWKS_URL;
  if (Boolean(identityIssuer) !== Boolean(identityJwks)) {
    throw new ConfigError('FQ_IDENTITY_ISSUER and FQ_IDENTITY_JWKS_URL must be set together');
  }
  return {
    store,
    tableName: store === 'memory' ? str(env, 'FQ_TABLE', 'fairqueue') : str(env, 'FQ_TABLE'),
    keys: secretId
      ? { kind: 'secrets-manager', secretId }
      : { kind: 'file', dir: str(env, 'FQ_KEY_DIR', '.fairqueue/keys') },
    issuer: str(env, 'FQ_ISSUER', 'fairqueue'),
    wsUrl: env.FQ_WS_URL || null,
    identity:
      identityIssuer && identityJwks
        ? {
            issuer: identityIssuer,
            jwksUrl: identityJwks,
            ...(env.FQ_IDENTITY_AUDIENCE ? { audience: env.FQ_IDENTITY_AUDIENCE } : {}),
          }
        : null,
    joinRateLimitPerMinute: num(env, 'FQ_JOIN_RATE_LIMIT_PER_MINUTE', 0, 0),
    tickSeconds: num(env, 'FQ_TICK_SECONDS', 5, 0.05),
    admitterRunSeconds: num(env, 'FQ_ADMITTER_RUN_SECONDS', 55, 0),
    keyCacheSeconds: num(env, 'FQ_KEY_CACHE_SECONDS', 300, 0),
    realtime: readRealtime(env),
  };
}
