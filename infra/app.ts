import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FairqueueStack } from './fairqueue-stack.ts';
import type { FairqueueWaitingRoomProps } from './waiting-room.ts';

/**
 * Context keys (cdk.json or `cdk deploy -c key=value`):
 * - `fairqueue:stackName`              stack name, default `Fairqueue`
 * - `fairqueue:issuer`                 `iss` of signed tokens, default `fairqueue`
 * - `fairqueue:identityIssuer`, `fairqueue:identityJwksUrl`, `fairqueue:identityAudience`
 *                                      require identity JWTs on join (issuer and JWKS URL together)
 * - `fairqueue:joinRateLimitPerMinute` joins per client address per minute, 0 = off
 * - `fairqueue:throttleRateLimit`, `fairqueue:throttleBurstLimit`  stage throttle
 * - `fairqueue:corsAllowOrigins`       comma-separated list or JSON array, default `*`
 * - `fairqueue:webSocketRateLimit`, `fairqueue:webSocketBurstLimit`  WebSocket stage throttle
 * - `fairqueue:webSocketAccessLogs`    `true` to log WebSocket access (needs the account's API Gateway
 *                                      CloudWatch Logs role), default `false`
 * - `fairqueue:webSocketShards`        connection partitions per event = fan-out workers per change, default 16
 * - `fairqueue:fanoutConcurrency`      posts in flight per fan-out worker, default 64
 * - `fairqueue:webSocketMaxConnectionsPerPlace`  open connections per place (the oldest beyond it is closed), default 3
 * - `fairqueue:webSocketMaxMessagesPerMinute`    client messages per connection and minute (one more closes it), default 60
 * - `fairqueue:pushFcmApplicationArn`, `fairqueue:pushApnsApplicationArn`
 *                                      SNS platform applications; without either, push is off
 * - `fairqueue:pushApnsSandbox`        `true`/`false`, default: from the APNs application ARN
 */
const app = new App();

function text(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(`fairqueue:${key}`);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new Error(`context fairqueue:${key} must be a string, got ${JSON.stringify(value)}`);
  }
  return String(value);
}

function count(key: string): number | undefined {
  const raw = text(key);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  // -c values arrive as strings; reject "10k" and friends here rather than at deploy.
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`context fairqueue:${key} must be a whole number >= 0, got "${raw}"`);
  }
  return value;
}

function flag(key: string): boolean | undefined {
  const value: unknown = app.node.tryGetContext(`fairqueue:${key}`);
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context fairqueue:${key} must be true or false, got ${JSON.stringify(value)}`);
}

function list(key: string): string[] | undefined {
  const value: unknown = app.node.tryGetContext(`fairqueue:${key}`);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  const raw = text(key);
  return raw
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function identity(): FairqueueWaitingRoomProps['identity'] {
  const issuer = text('identityIssuer');
  const jwksUrl = text('identityJwksUrl');
  const audience = text('identityAudience');
  if (issuer === undefined && jwksUrl === undefined) return undefined;
  if (issuer === undefined || jwksUrl === undefined) {
    throw new Error('context fairqueue:identityIssuer and fairqueue:identityJwksUrl must be set together');
  }
  return { issuer, jwksUrl, ...(audience !== undefined && { audience }) };
}

const rateLimit = count('throttleRateLimit');
const burstLimit = count('throttleBurstLimit');
const issuer = text('issuer');
const joinRateLimitPerMinute = count('joinRateLimitPerMinute');
const corsAllowOrigins = list('corsAllowOrigins');
const identityProps = identity();
const webSocketRateLimit = count('webSocketRateLimit');
const webSocketBurstLimit = count('webSocketBurstLimit');
const webSocketAccessLogs = flag('webSocketAccessLogs');
const webSocketShards = count('webSocketShards');
const fanoutConcurrency = count('fanoutConcurrency');
const webSocketMaxConnectionsPerPlace = count('webSocketMaxConnectionsPerPlace');
const webSocketMaxMessagesPerMinute = count('webSocketMaxMessagesPerMinute');
const fcmApplicationArn = text('pushFcmApplicationArn');
const apnsApplicationArn = text('pushApnsApplicationArn');
const apnsSandbox = flag('pushApnsSandbox');

// No `env`: the stack stays environment-agnostic so `cdk synth` needs no credentials.
new FairqueueStack(app, text('stackName') ?? 'Fairqueue', {
  description: 'fairqueue: serverless virtual waiting room',
  waitingRoom: {
    ...(issuer !== undefined && { issuer }),
    ...(identityProps !== undefined && { identity: identityProps }),
    ...(joinRateLimitPerMinute !== undefined && { joinRateLimitPerMinute }),
    ...((rateLimit !== undefined || burstLimit !== undefined) && {
      throttle: {
        ...(rateLimit !== undefined && { rateLimit }),
        ...(burstLimit !== undefined && { burstLimit }),
      },
    }),
    ...(corsAllowOrigins !== undefined && { corsAllowOrigins }),
    ...((webSocketRateLimit !== undefined || webSocketBurstLimit !== undefined) && {
      webSocketThrottle: {
        ...(webSocketRateLimit !== undefined && { rateLimit: webSocketRateLimit }),
        ...(webSocketBurstLimit !== undefined && { burstLimit: webSocketBurstLimit }),
      },
    }),
    ...(webSocketAccessLogs !== undefined && { webSocketAccessLogs }),
    ...(webSocketShards !== undefined && { webSocketShards }),
    ...(fanoutConcurrency !== undefined && { fanoutConcurrency }),
    ...(webSocketMaxConnectionsPerPlace !== undefined && { webSocketMaxConnectionsPerPlace }),
    ...(webSocketMaxMessagesPerMinute !== undefined && { webSocketMaxMessagesPerMinute }),
    push: {
      ...(fcmApplicationArn !== undefined && { fcmApplicationArn }),
      ...(apnsApplicationArn !== undefined && { apnsApplicationArn }),
      ...(apnsSandbox !== undefined && { apnsSandbox }),
    },
  },
});

// Fail the synth on any unsuppressed AWS Solutions finding, so they surface before deploy.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
