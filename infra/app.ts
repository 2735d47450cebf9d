import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { PriceClass } from 'aws-cdk-lib/aws-cloudfront';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FairqueueStack } from './fairqueue-stack.ts';
import type { FairQueueProps } from './waiting-room.ts';

/**
 * Context keys (cdk.json or `cdk deploy -c key=value`):
 * - `fairqueue:stackName`              stack name, default `Fairqueue`
 * - `fairqueue:issuer`                 `iss` of signed tokens, default `fairqueue`
 * - `fairqueue:identityIssuer`, `fairqueue:identityJwksUrl`, `fairqueue:identityAudience`
 *                                      require identity JWTs on join (all three together)
 * - `fairqueue:joinRateLimitPerMinute` joins per client address per minute, 0 = off
 * - `fairqueue:throttleRateLimit`, `fairqueue:throttleBurstLimit`  stage throttle
 * - `fairqueue:corsAllowOrigins`       comma-separated list or JSON array, default `*`
 * - `fairqueue:cloudFront`             `false` for no CloudFront distribution in front of the HTTP API, default `true`
 * - `fairqueue:cloudFrontPriceClass`   `PriceClass_100`, `PriceClass_200` or `PriceClass_All` (default)
 * - `fairqueue:cloudFrontWebAclId`     ARN of a WAF web ACL (scope CLOUDFRONT, us-east-1) for the distribution
 * - `fairqueue:domainNames`            your host names for the distribution (comma-separated or JSON array),
 *                                      with `fairqueue:certificateArn`, an ACM certificate in us-east-1 covering them
 * - `fairqueue:removalPolicy`          `retain` (default) or `destroy`: what deleting the stack does to the queue table
 * - `fairqueue:webSocketRateLimit`, `fairqueue:webSocketBurstLimit`  WebSocket stage throttle
 * - `fairqueue:webSocketAccessLogs`    `true` to log WebSocket access (needs the account's API Gateway
 *                                      CloudWatch Logs role), default `false`
 * - `fairqueue:webSocketShards`        connection partitions per event = fan-out workers per change, default 16
 * - `fairqueue:fanoutConcurrency`      posts in flight per fan-out worker, default 64
 * - `fairqueue:webSocketMessagesPerSecond`  `position` messages per second per event (update tiers), default 2000
 * - `fairqueue:statusRequestsPerSecond`     status polls per second per event the pollers are paced to, default 1000
 * - `fairqueue:nearHorizonSeconds`     fans expected in within this hear every move, default 60
 * - `fairqueue:webSocketMaxConnectionsPerPlace`  open connections per place (the oldest beyond it is closed), default 3
 * - `fairqueue:webSocketMaxMessagesPerMinute`    client messages per connection and minute (one more closes it), default 60
 * - `fairqueue:pushFcmApplicationArn`, `fairqueue:pushApnsApplicationArn`
 *                                      SNS platform applications; without either, push is off
 * - `fairqueue:pushApnsSandbox`        `true`/`false`, default: from the APNs application ARN
 * - `fairqueue:alarmEmail`             create an SNS topic for the alarms with this email subscribed
 * - `fairqueue:alarmTopicArn`          or send the alarms to this existing SNS topic
 * - `fairqueue:metricsNamespace`       CloudWatch namespace of the embedded metrics, default `fairqueue`
 * - `fairqueue:reservedConcurrency`    `false` to reserve no Lambda concurrency (accounts with a low limit)
 * - `fairqueue:admitterReservedConcurrency`, `fairqueue:fanoutReservedConcurrency`,
 *   `fairqueue:pushReservedConcurrency`  reserved concurrency, default 2, 2 × shards, 4
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

function identity(): FairQueueProps['identity'] {
  const issuer = text('identityIssuer');
  const jwksUrl = text('identityJwksUrl');
  const audience = text('identityAudience');
  if (issuer === undefined && jwksUrl === undefined && audience === undefined) return undefined;
  if (issuer === undefined || jwksUrl === undefined || audience === undefined) {
    throw new Error(
      'context fairqueue:identityIssuer, fairqueue:identityJwksUrl and fairqueue:identityAudience must be set together',
    );
  }
  return { issuer, jwksUrl, audience };
}

function cloudFront(): FairQueueProps['cloudFront'] {
  const on = flag('cloudFront');
  const priceClassText = text('cloudFrontPriceClass');
  const webAclId = text('cloudFrontWebAclId');
  if (on === false) {
    if (priceClassText !== undefined || webAclId !== undefined) {
      throw new Error(
        'context fairqueue:cloudFrontPriceClass and fairqueue:cloudFrontWebAclId need fairqueue:cloudFront on',
      );
    }
    return false;
  }
  const priceClass = Object.values(PriceClass).find((value) => value === priceClassText);
  if (priceClassText !== undefined && priceClass === undefined) {
    throw new Error(
      `context fairqueue:cloudFrontPriceClass must be one of ${Object.values(PriceClass).join(', ')}, got "${priceClassText}"`,
    );
  }
  return { ...(priceClass !== undefined && { priceClass }), ...(webAclId !== undefined && { webAclId }) };
}

const rateLimit = count('throttleRateLimit');
const burstLimit = count('throttleBurstLimit');
const issuer = text('issuer');
const joinRateLimitPerMinute = count('joinRateLimitPerMinute');
const corsAllowOrigins = list('corsAllowOrigins');
const cloudFrontProps = cloudFront();
const identityProps = identity();
const webSocketRateLimit = count('webSocketRateLimit');
const webSocketBurstLimit = count('webSocketBurstLimit');
const webSocketAccessLogs = flag('webSocketAccessLogs');
const webSocketShards = count('webSocketShards');
const fanoutConcurrency = count('fanoutConcurrency');
const webSocketMessagesPerSecond = count('webSocketMessagesPerSecond');
const statusRequestsPerSecond = count('statusRequestsPerSecond');
const nearHorizonSeconds = count('nearHorizonSeconds');
const webSocketMaxConnectionsPerPlace = count('webSocketMaxConnectionsPerPlace');
const webSocketMaxMessagesPerMinute = count('webSocketMaxMessagesPerMinute');
const fcmApplicationArn = text('pushFcmApplicationArn');
const apnsApplicationArn = text('pushApnsApplicationArn');
const apnsSandbox = flag('pushApnsSandbox');
const alarmEmail = text('alarmEmail');
const alarmTopicArn = text('alarmTopicArn');
if (alarmEmail !== undefined && alarmTopicArn !== undefined) {
  throw new Error('context fairqueue:alarmEmail and fairqueue:alarmTopicArn are alternatives: set one');
}
const metricsNamespace = text('metricsNamespace');
const domainNames = list('domainNames');
const certificateArn = text('certificateArn');
if ((domainNames === undefined) !== (certificateArn === undefined)) {
  throw new Error('context fairqueue:domainNames and fairqueue:certificateArn must be set together');
}
const removalPolicyText = text('removalPolicy');
if (removalPolicyText !== undefined && removalPolicyText !== 'retain' && removalPolicyText !== 'destroy') {
  throw new Error(`context fairqueue:removalPolicy must be retain or destroy, got "${removalPolicyText}"`);
}
const reservedConcurrencyOn = flag('reservedConcurrency');
const reservedAdmitter = count('admitterReservedConcurrency');
const reservedFanout = count('fanoutReservedConcurrency');
const reservedPush = count('pushReservedConcurrency');

// No `env`: the stack stays environment-agnostic so `cdk synth` needs no credentials.
new FairqueueStack(app, text('stackName') ?? 'Fairqueue', {
  description: 'fairqueue: serverless virtual waiting room',
  ...(alarmEmail !== undefined && { alarms: { email: alarmEmail } }),
  ...(alarmTopicArn !== undefined && { alarms: { topicArn: alarmTopicArn } }),
  ...(domainNames !== undefined &&
    certificateArn !== undefined && { domain: { names: domainNames, certificateArn } }),
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
    cloudFront: cloudFrontProps,
    ...((webSocketRateLimit !== undefined || webSocketBurstLimit !== undefined) && {
      webSocketThrottle: {
        ...(webSocketRateLimit !== undefined && { rateLimit: webSocketRateLimit }),
        ...(webSocketBurstLimit !== undefined && { burstLimit: webSocketBurstLimit }),
      },
    }),
    ...(webSocketAccessLogs !== undefined && { webSocketAccessLogs }),
    ...(webSocketShards !== undefined && { webSocketShards }),
    ...(fanoutConcurrency !== undefined && { fanoutConcurrency }),
    ...(webSocketMessagesPerSecond !== undefined && { webSocketMessagesPerSecond }),
    ...(statusRequestsPerSecond !== undefined && { statusRequestsPerSecond }),
    ...(nearHorizonSeconds !== undefined && { nearHorizonSeconds }),
    ...(metricsNamespace !== undefined && { metricsNamespace }),
    ...(removalPolicyText !== undefined && {
      removalPolicy: removalPolicyText === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    }),
    ...(reservedConcurrencyOn === false
      ? { reservedConcurrency: false as const }
      : {
          reservedConcurrency: {
            ...(reservedAdmitter !== undefined && { admitter: reservedAdmitter }),
            ...(reservedFanout !== undefined && { fanout: reservedFanout }),
            ...(reservedPush !== undefined && { push: reservedPush }),
          },
        }),
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
