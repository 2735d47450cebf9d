/**
 * The one typed configuration object, read from the environment once at load.
 * A missing or malformed required value fails at start with a message that
 * names the variable, never later inside a request.
 */

import {
  DEFAULT_MAX_CONNECTIONS_PER_PLACE,
  DEFAULT_MAX_MESSAGES_PER_MINUTE,
} from '#domain/connection-limits';
import { RETIRED_KEY_RETENTION_SECONDS } from '#domain/keyring';
import { DEFAULT_MAX_DEVICES_PER_PLACE } from '#domain/push';
import { UPDATE_DEFAULTS } from '#domain/updates';

export interface AppConfig {
  readonly logLevel: LogLevel;
  /**
   * `emf`: CloudWatch embedded metrics in the logs (the default inside Lambda); `off`
   * elsewhere (the local runtime installs its Prometheus registry instead).
   */
  readonly metrics:
    | { readonly kind: 'emf'; readonly namespace: string; readonly serviceName: string }
    | { readonly kind: 'off' };
  /**
   * `dynamodb` (AWS, DynamoDB Local, any endpoint via AWS_ENDPOINT_URL); local only: `sqlite`
   * (the embedded store on disk, kept across restarts) or `memory` (in process, gone at exit).
   */
  readonly store: 'dynamodb' | 'sqlite' | 'memory';
  readonly tableName: string;
  /** Where the `sqlite` store keeps its database file (FQ_DATA_DIR). */
  readonly dataDir: string;
  /**
   * Where the keys live (FQ_KEYS). `file`: one ring on disk serves both halves (local).
   * `aws`: the public half is the KEYRING item of the table, which every verification
   * reads; only functions that sign also get the secret holding the private ring.
   */
  readonly keys:
    | {
        readonly kind: 'aws';
        /** FQ_KEY_SECRET_ID, set on signing functions only; null: this function cannot sign. */
        readonly signingSecretId: string | null;
      }
    | { readonly kind: 'file'; readonly dir: string };
  /** `iss` of every token fairqueue signs. */
  readonly issuer: string;
  /** WebSocket URL handed to joiners; null until a WebSocket API is configured. */
  readonly wsUrl: string | null;
  /** When set, joins must carry an identity JWT from the ticketing platform. */
  readonly identity: { readonly issuer: string; readonly jwksUrl: string; readonly audience: string } | null;
  /** Joins per client address per minute; 0 = off. */
  readonly joinRateLimitPerMinute: number;
  /**
   * How long join, status and the public document reuse an event read per process (ms):
   * at 100,000 joins/s one META item cannot be read by every request. 1,000 in Lambda, 0 locally.
   */
  readonly eventCacheMs: number;
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
    /** `position` messages per second one event may send, all workers together (shared/domain/updates.ts). */
    readonly messagesPerSecond: number;
    /** Fans expected in within this many seconds hear every move of the line. */
    readonly nearHorizonSeconds: number;
    /** Status polls per second one event's pollers are paced to. */
    readonly statusRequestsPerSecond: number;
    /** Open connections one place may hold; a new one beyond it closes the oldest. */
    readonly maxConnectionsPerPlace: number;
    /** Client messages one connection may send per minute; one more closes it. */
    readonly maxMessagesPerMinute: number;
    /** Devices one place may register for push; another is refused (409 `too_many_devices`). */
    readonly maxDevicesPerPlace: number;
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

/** The key rotation function's configuration (functions/rotate-keys.ts); it builds no runtime. */
export interface RotationConfig {
  /** The table whose KEYRING item gets each new ring's public half. */
  readonly tableName: string;
  /**
   * How long a retired signing key keeps verifying: bounds how long a token signed just
   * before a rotation stays valid. Cover the longest token lifetime plus the key cache.
   */
  readonly retiredKeyRetentionSeconds: number;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `FQ_LOG_LEVEL` (any case); tests default to silence. A level the logger does not know fails at load. */
export function readLogLevel(env: Env = process.env): LogLevel {
  const raw = env.FQ_LOG_LEVEL;
  if (raw === undefined || raw === '') return env.NODE_ENV === 'test' ? 'SILENT' : 'INFO';
  const level = LOG_LEVELS.find((l) => l === raw.toUpperCase());
  if (!level) {
    throw new ConfigError(
      `environment variable FQ_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`,
    );
  }
  return level;
}

function str(env: Env, name: string, fallback?: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`environment variable ${name} is required`);
}

/**
 * A number within [min, max]. Upper bounds matter as much as lower ones: a shard count of
 * fifty million is a number, and it would take the process down at the first connect.
 */
function num(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(
      `environment variable ${name} must be a number from ${min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

/** A whole number within [min, max]. */
function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = num(env, name, fallback, min, max);
  if (!Number.isInteger(value)) {
    throw new ConfigError(`environment variable ${name} must be a whole number, got "${env[name]}"`);
  }
  return value;
}

/** Partitions per event for WebSocket connections: one fan-out invocation each per change. */
export const MAX_WS_SHARDS = 1024;

function readRealtime(env: Env): AppConfig['realtime'] {
  const notifier = str(env, 'FQ_NOTIFIER', 'lambda');
  if (notifier !== 'lambda' && notifier !== 'in-process') {
    throw new ConfigError(
      `environment variable FQ_NOTIFIER must be "lambda" or "in-process", got "${notifier}"`,
    );
  }
  const fcm = env.FQ_PUSH_FCM_APPLICATION_ARN || null;
  const apns = env.FQ_PUSH_APNS_APPLICATION_ARN || null;
  if (env.FQ_PUSH && env.FQ_PUSH !== 'local' && env.FQ_PUSH !== 'off') {
    throw new ConfigError(`environment variable FQ_PUSH must be "local" or "off", got "${env.FQ_PUSH}"`);
  }
  const sandbox = env.FQ_PUSH_APNS_SANDBOX;
  if (sandbox && sandbox !== 'true' && sandbox !== 'false') {
    throw new ConfigError(
      `environment variable FQ_PUSH_APNS_SANDBOX must be "true" or "false", got "${sandbox}"`,
    );
  }
  let push: AppConfig['realtime']['push'] = { kind: 'off' };
  if (env.FQ_PUSH === 'local') push = { kind: 'local' };
  else if (env.FQ_PUSH === 'off') push = { kind: 'off' };
  else if (fcm || apns) {
    push = {
      kind: 'sns',
      fcmApplicationArn: fcm,
      apnsApplicationArn: apns,
      apnsSandbox: env.FQ_PUSH_APNS_SANDBOX === 'true',
    };
  }
  return {
    shards: int(env, 'FQ_WS_SHARDS', 16, 1, MAX_WS_SHARDS),
    fanoutConcurrency: int(env, 'FQ_FANOUT_CONCURRENCY', 64, 1, 1024),
    messagesPerSecond: int(env, 'FQ_WS_MESSAGES_PER_SECOND', UPDATE_DEFAULTS.messagesPerSecond, 1, 1_000_000),
    nearHorizonSeconds: int(env, 'FQ_NEAR_HORIZON_SECONDS', UPDATE_DEFAULTS.nearHorizonSeconds, 0, 3600),
    statusRequestsPerSecond: int(
      env,
      'FQ_STATUS_REQUESTS_PER_SECOND',
      UPDATE_DEFAULTS.statusRequestsPerSecond,
      1,
      1_000_000,
    ),
    maxConnectionsPerPlace: int(
      env,
      'FQ_WS_MAX_CONNECTIONS_PER_PLACE',
      DEFAULT_MAX_CONNECTIONS_PER_PLACE,
      1,
      100,
    ),
    maxMessagesPerMinute: int(
      env,
      'FQ_WS_MAX_MESSAGES_PER_MINUTE',
      DEFAULT_MAX_MESSAGES_PER_MINUTE,
      1,
      10_000,
    ),
    maxDevicesPerPlace: int(env, 'FQ_PUSH_MAX_DEVICES_PER_PLACE', DEFAULT_MAX_DEVICES_PER_PLACE, 1, 50),
    managementEndpoint: env.FQ_WS_MANAGEMENT_ENDPOINT || null,
    notifier,
    fanoutFunction: env.FQ_FANOUT_FUNCTION || null,
    pushFunction: env.FQ_PUSH_FUNCTION || null,
    push,
  };
}

function readMetrics(env: Env): AppConfig['metrics'] {
  const kind = str(env, 'FQ_METRICS', env.AWS_LAMBDA_FUNCTION_NAME ? 'emf' : 'off');
  if (kind === 'off') return { kind };
  if (kind !== 'emf')
    throw new ConfigError(`environment variable FQ_METRICS must be "emf" or "off", got "${kind}"`);
  return {
    kind,
    namespace: str(env, 'FQ_METRICS_NAMESPACE', 'fairqueue'),
    // The `service` dimension: one deployment's figures apart from another's in the same account.
    serviceName: str(env, 'POWERTOOLS_SERVICE_NAME', 'fairqueue'),
  };
}

export function readConfig(env: Env = process.env): AppConfig {
  const store = str(env, 'FQ_STORE', 'dynamodb');
  if (store !== 'dynamodb' && store !== 'sqlite' && store !== 'memory') {
    throw new ConfigError(
      `environment variable FQ_STORE must be "dynamodb", "sqlite" or "memory", got "${store}"`,
    );
  }
  const secretId = env.FQ_KEY_SECRET_ID || null;
  const keySource = str(env, 'FQ_KEYS', secretId ? 'aws' : 'file');
  if (keySource !== 'aws' && keySource !== 'file') {
    throw new ConfigError(`environment variable FQ_KEYS must be "aws" or "file", got "${keySource}"`);
  }
  if (keySource === 'file' && secretId) throw new ConfigError('FQ_KEY_SECRET_ID needs FQ_KEYS=aws');
  if (keySource === 'aws' && store !== 'dynamodb') {
    throw new ConfigError(
      'FQ_KEYS=aws reads the public keys from the DynamoDB table: it needs FQ_STORE=dynamodb',
    );
  }
  const identityIssuer = env.FQ_IDENTITY_ISSUER;
  const identityJwks = env.FQ_IDENTITY_JWKS_URL;
  if (Boolean(identityIssuer) !== Boolean(identityJwks)) {
    throw new ConfigError('FQ_IDENTITY_ISSUER and FQ_IDENTITY_JWKS_URL must be set together');
  }
  const identityAudience = env.FQ_IDENTITY_AUDIENCE;
  if (identityIssuer && !identityAudience) {
    // Without a pinned audience, a token the platform issued to any of its other services would join.
    throw new ConfigError(
      'FQ_IDENTITY_AUDIENCE is required with FQ_IDENTITY_ISSUER: the audience the ticketing platform puts in identity tokens meant for fairqueue',
    );
  }
  return {
    logLevel: readLogLevel(env),
    metrics: readMetrics(env),
    store,
    tableName: store === 'dynamodb' ? str(env, 'FQ_TABLE') : str(env, 'FQ_TABLE', 'fairqueue'),
    dataDir: str(env, 'FQ_DATA_DIR', '.fairqueue/data'),
    keys:
      keySource === 'aws'
        ? { kind: 'aws', signingSecretId: secretId }
        : { kind: 'file', dir: str(env, 'FQ_KEY_DIR', '.fairqueue/keys') },
    issuer: str(env, 'FQ_ISSUER', 'fairqueue'),
    wsUrl: env.FQ_WS_URL || null,
    identity:
      identityIssuer && identityJwks && identityAudience
        ? { issuer: identityIssuer, jwksUrl: identityJwks, audience: identityAudience }
        : null,
    joinRateLimitPerMinute: int(env, 'FQ_JOIN_RATE_LIMIT_PER_MINUTE', 0, 0, 1_000_000),
    eventCacheMs: int(env, 'FQ_EVENT_CACHE_MS', env.AWS_LAMBDA_FUNCTION_NAME ? 1000 : 0, 0, 60_000),
    tickSeconds: num(env, 'FQ_TICK_SECONDS', 5, 0.05, 60),
    admitterRunSeconds: num(env, 'FQ_ADMITTER_RUN_SECONDS', 55, 0, 900),
    keyCacheSeconds: num(env, 'FQ_KEY_CACHE_SECONDS', 300, 0, 3600),
    realtime: readRealtime(env),
  };
}

export function readRotationConfig(env: Env = process.env): RotationConfig {
  return {
    tableName: str(env, 'FQ_TABLE'),
    retiredKeyRetentionSeconds: int(
      env,
      'FQ_RETIRED_KEY_RETENTION_SECONDS',
      RETIRED_KEY_RETENTION_SECONDS,
      0,
      365 * 24 * 3600,
    ),
  };
}
