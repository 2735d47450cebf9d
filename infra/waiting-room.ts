import {
  type CfnElement,
  Duration,
  RemovalPolicy,
  SecretValue,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { partitionPatterns } from '#adapters/table-keys';
import { MAX_WS_SHARDS } from '#app/config';
import { RETIRED_KEY_RETENTION_SECONDS } from '#domain/keyring';
import { UPDATE_DEFAULTS } from '#domain/updates';
import { EDGE_SECRET_ENV } from '#http/edge';
import { type FunctionName, ROUTES } from '#http/routes';
import { type EdgeOptions, FairqueueEdge } from './edge.ts';
import {
  bindKeys,
  bindTable,
  type DynamoAction,
  FairqueueFunction,
  type KeyAccess,
  publicKeysStatement,
  type TableGrant,
} from './fairqueue-function.ts';
import { FairqueueObservability } from './observability.ts';
import { type PushProps, type PushSetup, pushSetup } from './push.ts';

/**
 * Identity JWTs from the ticketing platform; when set, `sub` of that token is the user who joins.
 *
 * @example
 * ```ts
 * new FairQueue(stack, 'Queue', {
 *   identity: {
 *     issuer: 'https://id.example.com/',
 *     jwksUrl: 'https://id.example.com/.well-known/jwks.json',
 *     audience: 'fairqueue',
 *   },
 * });
 * ```
 */
export interface IdentityProviderProps {
  readonly issuer: string;
  readonly jwksUrl: string;
  /**
   * The `aud` the platform puts in identity tokens meant for fairqueue. Required: without
   * it, a token the platform issued to any of its other services would be accepted.
   */
  readonly audience: string;
}

/**
 * How a {@link FairQueue} is built. Every prop is optional; the defaults suit an on-sale of a
 * few hundred joins a second (docs/deploy-big-onsales.md sizes bigger ones).
 *
 * @example
 * ```ts
 * import { RemovalPolicy } from 'aws-cdk-lib';
 * import { Topic } from 'aws-cdk-lib/aws-sns';
 *
 * const props: FairQueueProps = {
 *   throttle: { rateLimit: 4000, burstLimit: 8000 },
 *   alarmTopic: new Topic(stack, 'Alarms'),
 *   removalPolicy: RemovalPolicy.DESTROY, // a test stack
 * };
 * new FairQueue(stack, 'Queue', props);
 * ```
 */
export interface FairQueueProps {
  /** `iss` of every token fairqueue signs. @default 'fairqueue' */
  readonly issuer?: string;
  /** @default - the `userId` in the join body is trusted (dev mode) */
  readonly identity?: IdentityProviderProps;
  /** Joins per client address per minute; 0 turns the limit off. @default 0 */
  readonly joinRateLimitPerMinute?: number;
  /** Stage-wide throttle. @default { rateLimit: 2000, burstLimit: 5000 } */
  readonly throttle?: ThrottleSettings;
  /** Browser origins allowed by CORS. @default ['*'] */
  readonly corsAllowOrigins?: string[];
  /**
   * CloudFront in front of the HTTP API (docs/decisions/0011): the public event document
   * cached for a second and the JWKS for its max-age, one copy for everyone; every other
   * request passes through uncached. `apiUrl` and `jwksUrl` then point at the distribution,
   * and operators keep `directApiUrl` (SigV4 signs the API Gateway host). `false`: the API
   * alone, as before. @default true
   */
  readonly cloudFront?: boolean | EdgeOptions;
  /** Seconds between admission ticks inside one admitter run. @default 5 */
  readonly tickSeconds?: number;
  /** How long one scheduled admitter invocation keeps ticking. @default 55 */
  readonly admitterRunSeconds?: number;
  /**
   * How often the signing key changes: each rotation promotes the key published one rotation
   * earlier and publishes the next. @default Duration.days(30)
   */
  readonly keyRotationInterval?: Duration;
  /**
   * How long a retired signing key keeps verifying: a token signed just before a rotation
   * stays verifiable this long. Keep it above the longest token lifetime you configure
   * (position TTL, purchase window) plus the 5-minute key cache. @default Duration.days(1)
   */
  readonly retiredKeyRetention?: Duration;
  /**
   * What becomes of the queue table (places, sessions, events) when it leaves the stack or the
   * stack is deleted. `DESTROY` suits test stacks only: positions are promises made to people.
   * Logs are always destroyed (their retention bounds them anyway). @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Retention of function and access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * Throttle of the WebSocket stage (connects and client messages such as heartbeats).
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly webSocketThrottle?: ThrottleSettings;
  /**
   * Access logs of the WebSocket stage. Unlike HTTP APIs, WebSocket APIs can only log once the
   * account's API Gateway CloudWatch Logs role is set (an account-wide setting this stack does
   * not own); turn this on where it is. @default false
   */
  readonly webSocketAccessLogs?: boolean;
  /**
   * Partitions each event's connections are spread over; every change of the line is fanned
   * out by one worker invocation per shard. Changing it while connections are open strands
   * those on dropped shards until they reconnect. @default 16
   */
  readonly webSocketShards?: number;
  /** Posts in flight at once inside one fan-out worker. @default 64 */
  readonly fanoutConcurrency?: number;
  /**
   * `position` messages per second one event may send (docs/decisions/0012): while telling
   * every connected fan every move fits, all hear every move; past it fans far back are told
   * every 10 s (30 s under overload). Each message is an API Gateway request against the
   * account's quota (10,000 a second by default). A whole number >= 1. @default 2000
   */
  readonly webSocketMessagesPerSecond?: number;
  /**
   * Status polls per second one event's pollers are paced to (`pollAfterSeconds` grows with
   * the distance; never past half the position token's lifetime). A whole number >= 1.
   * @default 1000
   */
  readonly statusRequestsPerSecond?: number;
  /** Fans expected to be admitted within this many seconds hear every move. @default 60 */
  readonly nearHorizonSeconds?: number;
  /**
   * Open WebSocket connections one place (one position token's holder) may keep; a new one
   * beyond it closes the place's oldest. A whole number >= 1. @default 3
   */
  readonly webSocketMaxConnectionsPerPlace?: number;
  /**
   * Client messages (heartbeats) one WebSocket connection may send per minute; one more closes
   * it. Each is a Lambda invocation and a DynamoDB write. A whole number >= 1. @default 60
   */
  readonly webSocketMaxMessagesPerMinute?: number;
  /** SNS mobile push. @default - off: device registration answers 503 `push_unavailable` */
  readonly push?: PushProps;
  /**
   * Where the alarms go (and their return to OK): subscribe email, chat or paging to it.
   * @default - no notifications; the alarms still show on the dashboard
   */
  readonly alarmTopic?: ITopic;
  /** CloudWatch namespace of fairqueue's embedded metrics. @default 'fairqueue' */
  readonly metricsNamespace?: string;
  /**
   * Concurrency reserved for the functions that keep the line moving, so a join flood that
   * uses up the account's Lambda concurrency can never stall admissions or live updates.
   * It comes out of the account's pool (which must keep 100 unreserved): on an account with
   * a low limit, lower these or pass `false`. @default { admitter: 2, fanout: 2 × webSocketShards, push: 4 }
   */
  readonly reservedConcurrency?:
    | { readonly admitter?: number; readonly fanout?: number; readonly push?: number }
    | false;
}

interface HandlerAccess {
  /** Item actions and partitions on the table; null: none (the name is still handed over). */
  readonly table: TableGrant | null;
  /** `sign`: reads the private key ring; `verify`: only the public keys; `none`: neither. */
  readonly keys: KeyAccess;
  /** Hands changes of the line to the fan-out and push workers (asynchronous invocations). */
  readonly notifies?: boolean;
  /** Creates or re-enables SNS platform endpoints for devices (when push is configured). */
  readonly registersDevices?: boolean;
}

const P = partitionPatterns;
const grant = (actions: readonly DynamoAction[], ...partitions: string[]): TableGrant => ({
  actions,
  partitions,
});
/** What the transactions of claims, completes and ticks write item by item. */
const TRANSACT: readonly DynamoAction[] = ['PutItem', 'UpdateItem', 'ConditionCheckItem'];
/** A connection's own items: the shard entry, the reference by id, the per-place entry. */
const CONNECTION_ITEMS = [P.connections, P.placeConnections, P.connectionRefs];

/**
 * Least privilege per handler, in one place. Typed by FunctionName, so a
 * handler added to the route table does not compile until someone decides
 * what it may touch.
 */
const HANDLER_ACCESS: Readonly<Record<FunctionName, HandlerAccess>> = {
  // Signs the position token; takes a place (counter, user binding) and counts joins per address.
  // (Sharded events: a ticket from a stripe item, and the slice records `ahead` reads.)
  join: {
    table: grant(['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'], P.events, P.rateLimits),
    keys: 'sign',
  },
  // Verifies the position token and hands out a refreshed one, but never changes queue state.
  status: { table: grant(['GetItem', 'Query'], P.events), keys: 'sign' },
  // Verifies the position token, starts the session (a transaction), signs the access token.
  admission: { table: grant(['GetItem', 'Query', ...TRANSACT], P.events), keys: 'sign' },
  // Verifies the access token only, and ends the session (a transaction).
  complete: { table: grant(['GetItem', 'UpdateItem', 'ConditionCheckItem'], P.events), keys: 'verify' },
  // Verifies the access token, then reads the place's session item and nothing else (decision 0014).
  access: { table: grant(['GetItem'], P.places), keys: 'verify' },
  // Verifies the position token; voids a waiting place or gives an admitted slot back (transactions).
  // Its connections hear `left` through the fan-out worker.
  leave: { table: grant(['GetItem', 'Query', ...TRANSACT], P.events), keys: 'verify', notifies: true },
  // Verifies the position token, then stores the device's SNS endpoint under the place.
  devices: {
    table: grant(['GetItem', 'Query', 'PutItem', 'UpdateItem'], P.events),
    keys: 'verify',
    registersDevices: true,
  },
  event: { table: grant(['GetItem'], P.events), keys: 'none' },
  // Serves the public keys and nothing else: GetItem on the KEYRING partition only.
  jwks: { table: null, keys: 'verify' },
  // Creates events (listing them for the admitter); pause, resume and close reach connected
  // fans and devices through the workers.
  admin: {
    table: grant(['GetItem', 'Query', 'PutItem', 'UpdateItem'], P.events, P.activeEvents),
    keys: 'none',
    notifies: true,
  },
};

type WebSocketRouteKey = '$connect' | '$disconnect' | '$default';

/** Management API calls: POST is PostToConnection, DELETE is DeleteConnection. */
type ConnectionCall = 'POST' | 'DELETE';

interface WebSocketHandler extends HandlerAccess {
  /** File under `functions/`. */
  readonly fn: string;
  /** Management API calls it makes on connections (`FQ_WS_MANAGEMENT_ENDPOINT`); none: no endpoint. */
  readonly manages: readonly ConnectionCall[];
}

/** The WebSocket routes and what each handler may touch. */
const WEBSOCKET_HANDLERS: Readonly<Record<WebSocketRouteKey, WebSocketHandler>> = {
  // Verifies `?token=`, registers the connection under its event and place, and closes the
  // place's oldest connections beyond the cap.
  $connect: {
    fn: 'ws-connect',
    table: grant(['GetItem', 'Query', 'PutItem', 'DeleteItem'], P.events, P.connectionRefs),
    keys: 'verify',
    manages: ['DELETE'],
  },
  // Forgets the connection: its own three items, nothing of the queue.
  $disconnect: {
    fn: 'ws-disconnect',
    table: grant(['GetItem', 'DeleteItem'], ...CONNECTION_ITEMS),
    keys: 'none',
    manages: [],
  },
  // Answers heartbeats; counts messages and closes a connection over the limit; forgets a
  // connection whose answer comes back gone.
  $default: {
    fn: 'ws-default',
    table: grant(['GetItem', 'UpdateItem', 'DeleteItem'], ...CONNECTION_ITEMS),
    keys: 'none',
    manages: ['POST', 'DELETE'],
  },
};

/** The workers' grants: fan-out, push and the admitter. */
const WORKER_TABLE_GRANTS = {
  // Reads the event, its batches and a shard's connections; moves the shard's cursor;
  // forgets connections API Gateway reports gone.
  fanout: grant(['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'], P.events, P.connectionRefs),
  // Reads places, batches and registrations; marks milestones sent and devices gone.
  push: grant(['GetItem', 'Query', 'UpdateItem'], P.events),
  // Lists and retires active events; seals buckets and commits ticks (a transaction).
  admitter: grant(['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'], P.events, P.activeEvents),
} as const satisfies Record<string, TableGrant>;

/**
 * Every function's grant on the table, by its file under `functions/` (the key rotator's,
 * on the public keys only, is set where it is built). Exported so a test can replay real
 * requests against it (test/integration/least-privilege.test.ts).
 */
export const TABLE_GRANTS: Readonly<Record<string, TableGrant | null>> = {
  ...Object.fromEntries(Object.entries(HANDLER_ACCESS).map(([name, access]) => [name, access.table])),
  ...Object.fromEntries(Object.values(WEBSOCKET_HANDLERS).map((handler) => [handler.fn, handler.table])),
  ...WORKER_TABLE_GRANTS,
};

const WEBSOCKET_STAGE = 'live';

/** The admitter is invoked once a minute and must be finished before the next run. */
const ADMITTER_TIMEOUT = Duration.seconds(70);
const SCHEDULE_PERIOD_SECONDS = 60;

/**
 * A fan-out job is retried: a `paused`/`closed` has no later news to replace it. The worker
 * itself skips a job once a newer one has gone out to its shard (the newer one covers its
 * admissions), and Lambda drops any job that waited this long.
 */
const FANOUT_MAX_EVENT_AGE = Duration.minutes(5);
const FANOUT_RETRIES = 2;
/** Push milestones stay useful a little longer (a claim window is minutes), but not for hours. */
const PUSH_MAX_EVENT_AGE = Duration.minutes(2);

/** How cdk-nag spells an endpoint ARN pattern built from the stack's own partition, region and account. */
const SNS_ENDPOINTS_OF_STACK = 'arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:endpoint/*';

const LAMBDA_BASIC_EXECUTION_POLICY =
  'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

function parseRouteKey(routeKey: string): { method: HttpMethod; path: string } {
  const [verb, path, ...extra] = routeKey.split(' ');
  const method = Object.values(HttpMethod).find((m) => m === verb);
  if (method === undefined || path === undefined || !path.startsWith('/') || extra.length > 0) {
    throw new Error(`route key "${routeKey}" in shared/http/routes.ts is not "<METHOD> /path"`);
  }
  return { method, path };
}

function wholeNumber(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      max === Number.MAX_SAFE_INTEGER
        ? `${name} must be a whole number >= ${min}, got ${value}`
        : `${name} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * A complete fairqueue deployment: the queue table, the signing key ring with
 * its rotation, one Lambda per handler behind an HTTP API built from the shared
 * route table, the scheduled admitter, and the real-time side: a WebSocket API,
 * the fan-out worker and (when configured) the SNS push worker.
 *
 * @example
 * ```ts
 * import { App, CfnOutput, Stack } from 'aws-cdk-lib';
 * import { FairQueue } from 'fairqueue/cdk';
 *
 * const app = new App();
 * const stack = new Stack(app, 'Tickets');
 * const queue = new FairQueue(stack, 'Queue');
 * new CfnOutput(stack, 'ApiUrl', { value: queue.apiUrl });
 * new CfnOutput(stack, 'JwksUrl', { value: queue.jwksUrl });
 * ```
 */
export class FairQueue extends Construct {
  readonly table: Table;
  readonly signingKeys: Secret;
  readonly keyRotator: FairqueueFunction;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  /** One function per distinct `fn` of the route table. */
  readonly handlers: ReadonlyMap<FunctionName, FairqueueFunction>;
  readonly admitter: FairqueueFunction;
  /** Base URL clients use, with a trailing slash: the distribution's when CloudFront is on. */
  readonly apiUrl: string;
  /** The HTTP API's own `$default` stage URL, with a trailing slash: operators sign requests for it. */
  readonly directApiUrl: string;
  readonly jwksUrl: string;
  /** CloudFront in front of the HTTP API; undefined when `cloudFront` is false. */
  readonly edge: FairqueueEdge | undefined;
  readonly webSocketApi: WebSocketApi;
  readonly webSocketStage: WebSocketStage;
  /** One function per WebSocket route. */
  readonly webSocketHandlers: ReadonlyMap<WebSocketRouteKey, FairqueueFunction>;
  /** `wss://…/live`: handed to joiners as `wsUrl`. */
  readonly webSocketUrl: string;
  /** Sends a change of the line to the connections of one shard of an event. */
  readonly fanout: FairqueueFunction;
  /** Sends push milestones; undefined while push is off. */
  readonly push: FairqueueFunction | undefined;
  /** The alarms and the dashboard. */
  readonly observability: FairqueueObservability;

  constructor(scope: Construct, id: string, props: FairQueueProps = {}) {
    super(scope, id);

    const issuer = props.issuer ?? 'fairqueue';
    const tickSeconds = props.tickSeconds ?? 5;
    const admitterRunSeconds = props.admitterRunSeconds ?? 55;
    const joinRateLimit = props.joinRateLimitPerMinute ?? 0;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const shards = wholeNumber('webSocketShards', props.webSocketShards ?? 16, 1, MAX_WS_SHARDS);
    const fanoutConcurrency = wholeNumber('fanoutConcurrency', props.fanoutConcurrency ?? 64, 1);
    const messagesPerSecond = wholeNumber(
      'webSocketMessagesPerSecond',
      props.webSocketMessagesPerSecond ?? UPDATE_DEFAULTS.messagesPerSecond,
      1,
    );
    const statusRequestsPerSecond = wholeNumber(
      'statusRequestsPerSecond',
      props.statusRequestsPerSecond ?? UPDATE_DEFAULTS.statusRequestsPerSecond,
      1,
    );
    const nearHorizonSeconds = wholeNumber(
      'nearHorizonSeconds',
      props.nearHorizonSeconds ?? UPDATE_DEFAULTS.nearHorizonSeconds,
      0,
    );
    const maxConnectionsPerPlace = wholeNumber(
      'webSocketMaxConnectionsPerPlace',
      props.webSocketMaxConnectionsPerPlace ?? 3,
      1,
    );
    const maxMessagesPerMinute = wholeNumber(
      'webSocketMaxMessagesPerMinute',
      props.webSocketMaxMessagesPerMinute ?? 60,
      1,
    );
    const push: PushSetup | undefined = pushSetup(this, props.push);
    if (!(tickSeconds > 0)) throw new Error(`tickSeconds must be > 0, got ${tickSeconds}`);
    if (!(admitterRunSeconds >= 0 && admitterRunSeconds <= SCHEDULE_PERIOD_SECONDS)) {
      // A longer run would still be ticking when the next scheduled one starts.
      throw new Error(
        `admitterRunSeconds must be within 0..${SCHEDULE_PERIOD_SECONDS}, got ${admitterRunSeconds}`,
      );
    }
    if (!Number.isInteger(joinRateLimit) || joinRateLimit < 0) {
      throw new Error(`joinRateLimitPerMinute must be a whole number >= 0, got ${joinRateLimit}`);
    }

    // Single-table layout (pk/sk); the item shapes live in the DynamoDB adapter, not here.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Finished places, sessions and rate-limit buckets expire on their own.
      timeToLiveAttribute: 'ttl',
      // Queue positions are promises made to people; deleting the stack must not drop them.
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.signingKeys = new Secret(this, 'SigningKeys', {
      description: 'fairqueue ES256 signing key ring; written only by the rotation function',
      // Not a secret: a placeholder with no keys. The immediate first rotation replaces it
      // with a real ring (rotate-keys starts a new ring from exactly this value, or from none).
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
    });
    this.keyRotator = new FairqueueFunction(this, 'RotateKeysFunction', {
      name: 'rotate-keys',
      description: 'fairqueue: rotates the ES256 signing key ring (Secrets Manager rotation)',
      timeout: Duration.seconds(30),
      logRetention,
      environment: {
        FQ_TABLE: this.table.tableName,
        FQ_RETIRED_KEY_RETENTION_SECONDS: String(
          (props.retiredKeyRetention ?? Duration.seconds(RETIRED_KEY_RETENTION_SECONDS)).toSeconds(),
        ),
      },
    });
    // Publishes each new ring's public half for verifiers, and touches nothing else of the table.
    this.keyRotator.addToRolePolicy(publicKeysStatement(this.table, ['dynamodb:PutItem']));
    // Grants the rotator Describe/Get/Put/UpdateVersionStage on this secret only and
    // lets Secrets Manager invoke it.
    this.signingKeys.addRotationSchedule('Rotation', {
      rotationLambda: this.keyRotator,
      automaticallyAfter: props.keyRotationInterval ?? Duration.days(30),
      // Tokens cannot be signed until a key exists, so rotate as soon as the stack is deployed.
      rotateImmediatelyOnUpdate: true,
    });
    // addRotationSchedule lets secretsmanager.amazonaws.com invoke the rotator on behalf of any
    // account; naming this one keeps another account's secret from having it run (confused deputy).
    const [invokedBySecretsManager, ...more] = this.keyRotator.node.children.filter(
      (child): child is CfnPermission =>
        child instanceof CfnPermission && child.principal === 'secretsmanager.amazonaws.com',
    );
    if (invokedBySecretsManager === undefined || more.length > 0) {
      throw new Error(
        'expected addRotationSchedule to create one Secrets Manager invoke permission on the rotator; set its SourceAccount where it is created now',
      );
    }
    invokedBySecretsManager.sourceAccount = Stack.of(this).account;

    // Every function that builds the runtime gets these: the connection registry and the
    // fan-out must agree on the shard count, or connections land where no worker looks; the
    // metrics of this deployment carry its stack name as their `service` dimension.
    const metricsNamespace = props.metricsNamespace ?? 'fairqueue';
    const serviceName = Stack.of(this).stackName;
    const commonEnvironment = {
      FQ_ISSUER: issuer,
      // Every function that estimates waits or paces clients counts in the admitter's ticks.
      FQ_TICK_SECONDS: String(tickSeconds),
      FQ_WS_SHARDS: String(shards),
      FQ_WS_MESSAGES_PER_SECOND: String(messagesPerSecond),
      FQ_STATUS_REQUESTS_PER_SECOND: String(statusRequestsPerSecond),
      FQ_NEAR_HORIZON_SECONDS: String(nearHorizonSeconds),
      FQ_METRICS_NAMESPACE: metricsNamespace,
      POWERTOOLS_SERVICE_NAME: serviceName,
    };
    const reserved =
      props.reservedConcurrency === false
        ? undefined
        : {
            admitter: wholeNumber(
              'reservedConcurrency.admitter',
              props.reservedConcurrency?.admitter ?? 2,
              1,
            ),
            fanout: wholeNumber(
              'reservedConcurrency.fanout',
              props.reservedConcurrency?.fanout ?? 2 * shards,
              1,
            ),
            push: wholeNumber('reservedConcurrency.push', props.reservedConcurrency?.push ?? 4, 1),
          };

    // The WebSocket API comes first: its URLs go into the environment of join and the workers.
    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      apiName: `${Stack.of(this).stackName}-ws`,
      description: 'fairqueue live position updates',
    });
    const webSocketAccessLogs = props.webSocketAccessLogs
      ? new LogGroup(this, 'WebSocketAccessLogs', {
          retention: logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        })
      : undefined;
    this.webSocketStage = new WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: this.webSocketApi,
      stageName: WEBSOCKET_STAGE,
      autoDeploy: true,
      // Connects are capped per account (500/s by default) anyway; this bounds what one
      // flood of handshakes or client messages can cost in Lambda invocations.
      throttle: props.webSocketThrottle ?? { rateLimit: 1000, burstLimit: 2000 },
      ...(webSocketAccessLogs && {
        accessLogSettings: {
          destination: new LogGroupLogDestination(webSocketAccessLogs),
          // Never the query string: `$connect` carries the position token there.
          format: AccessLogFormat.custom(
            JSON.stringify({
              requestId: '$context.requestId',
              ip: '$context.identity.sourceIp',
              requestTime: '$context.requestTime',
              eventType: '$context.eventType',
              routeKey: '$context.routeKey',
              connectionId: '$context.connectionId',
              status: '$context.status',
              error: '$context.error.message',
              integrationLatencyMs: '$context.integrationLatency',
            }),
          ),
        },
      }),
    });
    this.webSocketUrl = this.webSocketStage.url;
    // `https://{api}.execute-api.{region}.{suffix}/live`: where the workers post to connections.
    const managementEndpoint = this.webSocketStage.callbackUrl;
    const webSocketApiId = Stack.of(this).getLogicalId(this.webSocketApi.node.defaultChild as CfnElement);
    const allowManageConnections = (fn: FairqueueFunction, calls: readonly ConnectionCall[]) => {
      if (calls.length === 0) return;
      fn.addEnvironment('FQ_WS_MANAGEMENT_ENDPOINT', managementEndpoint);
      // Only the named calls, on this API's live stage; connection ids are random, so the last
      // segment has to be a wildcard.
      const routes = calls.map((call) => `${call}/@connections/*`);
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['execute-api:ManageConnections'],
          resources: routes.map((route) => this.webSocketApi.arnForExecuteApiV2(route, WEBSOCKET_STAGE)),
        }),
      );
      for (const route of routes) {
        Validations.of(fn).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${webSocketApiId}>/${WEBSOCKET_STAGE}/${route}]`,
          reason: `Connection ids are assigned by API Gateway at connect time; the grant is limited to ${route.split('/')[0]} @connections on the live stage of this API.`,
        });
      }
    };

    this.fanout = new FairqueueFunction(this, 'FanoutFunction', {
      name: 'fanout',
      description: 'fairqueue: sends one change of the line to the WebSocket connections of one shard',
      // Posting is network-bound; more memory buys more CPU for signing refreshed tokens.
      memorySize: 1024,
      timeout: Duration.seconds(60),
      logRetention,
      retryAttempts: FANOUT_RETRIES,
      maxEventAge: FANOUT_MAX_EVENT_AGE,
      // Reserved: a join flood must not starve live updates. Jobs beyond it wait in Lambda's
      // asynchronous queue (retried, up to the maximum event age) rather than fail.
      ...(reserved && { reservedConcurrentExecutions: reserved.fanout }),
      environment: { ...commonEnvironment, FQ_FANOUT_CONCURRENCY: String(fanoutConcurrency) },
    });
    // Reads the shard's connections and deletes those API Gateway reports gone.
    bindTable(this.fanout, this.table, WORKER_TABLE_GRANTS.fanout);
    // Every position message carries a refreshed position token.
    bindKeys(this.fanout, 'sign', { secret: this.signingKeys, table: this.table });
    // And closes the connections of a place that was given up.
    allowManageConnections(this.fanout, ['POST', 'DELETE']);

    const allowSnsEndpoints = (fn: FairqueueFunction, actions: string[]) => {
      if (push === undefined) return;
      fn.addToRolePolicy(new PolicyStatement({ actions, resources: [...push.endpointArns] }));
      for (const endpoints of push.endpointArns) {
        Validations.of(fn).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${Token.isUnresolved(endpoints) ? SNS_ENDPOINTS_OF_STACK : endpoints}]`,
          reason: Token.isUnresolved(endpoints)
            ? 'SNS creates platform endpoints at run time with random ids, and the platform application ARN is only known at deploy time, so the grant covers the endpoints of this account and region.'
            : 'SNS creates platform endpoints at run time with random ids; the wildcard covers only endpoints of the configured platform applications.',
        });
      }
    };

    if (push !== undefined) {
      this.push = new FairqueueFunction(this, 'PushFunction', {
        name: 'push',
        description: 'fairqueue: sends SNS mobile push milestones for changes of the line',
        timeout: Duration.seconds(60),
        logRetention,
        // Retried: each milestone is recorded before it is sent, so a retry sends only what the
        // failed run had not reached yet, never anything twice.
        retryAttempts: 2,
        maxEventAge: PUSH_MAX_EVENT_AGE,
        ...(reserved && { reservedConcurrentExecutions: reserved.push }),
        environment: { ...commonEnvironment, ...push.environment },
      });
      bindTable(this.push, this.table, WORKER_TABLE_GRANTS.push);
      allowSnsEndpoints(this.push, ['sns:Publish']);
    }

    // Who hands off changes: names in the environment, invoke on exactly these functions
    // (unqualified ARNs only: the notifier never calls a version or an alias).
    const workers = [this.fanout, ...(this.push ? [this.push] : [])];
    const allowNotify = (fn: FairqueueFunction) => {
      fn.addEnvironment('FQ_FANOUT_FUNCTION', this.fanout.functionName);
      if (this.push) fn.addEnvironment('FQ_PUSH_FUNCTION', this.push.functionName);
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: workers.map((worker) => worker.functionArn),
        }),
      );
    };

    const joinEnvironment: Record<string, string> = {
      FQ_JOIN_RATE_LIMIT_PER_MINUTE: String(joinRateLimit),
      FQ_WS_URL: this.webSocketUrl,
      ...(props.identity && {
        FQ_IDENTITY_ISSUER: props.identity.issuer,
        FQ_IDENTITY_JWKS_URL: props.identity.jwksUrl,
        FQ_IDENTITY_AUDIENCE: props.identity.audience,
      }),
    };

    const handlers = new Map<FunctionName, FairqueueFunction>();
    for (const name of new Set(ROUTES.map((route) => route.fn))) {
      const access = HANDLER_ACCESS[name];
      const fn = new FairqueueFunction(this, `${pascal(name)}Function`, {
        name,
        description: `fairqueue: ${name} handler`,
        logRetention,
        environment: { ...commonEnvironment, ...(name === 'join' ? joinEnvironment : {}) },
      });
      bindTable(fn, this.table, access.table);
      bindKeys(fn, access.keys, { secret: this.signingKeys, table: this.table });
      if (access.notifies) allowNotify(fn);
      if (access.registersDevices && push !== undefined) {
        for (const [key, value] of Object.entries(push.environment)) fn.addEnvironment(key, value);
        fn.addToRolePolicy(
          new PolicyStatement({
            actions: ['sns:CreatePlatformEndpoint'],
            resources: [...push.applicationArns],
          }),
        );
        // A token SNS knows under other attributes (say, disabled after an uninstall) is re-enabled;
        // Publish: a registration catches up on milestones already due (e.g. `near`) at once.
        allowSnsEndpoints(fn, ['sns:GetEndpointAttributes', 'sns:SetEndpointAttributes', 'sns:Publish']);
      }
      handlers.set(name, fn);
    }
    this.handlers = handlers;

    const webSocketHandlers = new Map<WebSocketRouteKey, FairqueueFunction>();
    for (const [routeKey, access] of Object.entries(WEBSOCKET_HANDLERS) as [
      WebSocketRouteKey,
      WebSocketHandler,
    ][]) {
      const fn = new FairqueueFunction(this, `${pascal(access.fn)}Function`, {
        name: access.fn,
        description: `fairqueue: WebSocket ${routeKey} handler`,
        logRetention,
        environment: {
          ...commonEnvironment,
          FQ_WS_MAX_CONNECTIONS_PER_PLACE: String(maxConnectionsPerPlace),
          FQ_WS_MAX_MESSAGES_PER_MINUTE: String(maxMessagesPerMinute),
        },
      });
      bindTable(fn, this.table, access.table);
      bindKeys(fn, access.keys, { secret: this.signingKeys, table: this.table });
      allowManageConnections(fn, access.manages);
      const route = this.webSocketApi.addRoute(routeKey, {
        integration: new WebSocketLambdaIntegration(`${pascal(access.fn)}Integration`, fn),
      });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          routeKey === '$connect'
            ? 'The handshake carries a fairqueue position token (?token=), which ws-connect verifies itself and refuses with 401; an API Gateway authorizer would verify the same JWT a second time, in a second Lambda, on every connect of an on-sale rush.'
            : 'API Gateway authorizes WebSocket connections only on $connect; this route is reachable only on a connection $connect accepted.',
      });
      webSocketHandlers.set(routeKey, fn);
    }
    this.webSocketHandlers = webSocketHandlers;

    const corsAllowOrigins = props.corsAllowOrigins ?? ['*'];
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-api`,
      description: 'fairqueue virtual waiting room',
      // The stage is added below so throttling and access logs can be set on it.
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: corsAllowOrigins,
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.DELETE],
        allowHeaders: ['authorization', 'content-type'],
        // Browsers hide headers not listed here; clients need it to back off on 429/503.
        exposeHeaders: ['retry-after'],
        maxAge: Duration.hours(1),
      },
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      // Below the account-wide limit so a flood on this API cannot starve the account's
      // other APIs; raise it for large on-sales.
      throttle: props.throttle ?? { rateLimit: 2000, burstLimit: 5000 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // Route and path only: the query string could carry a token.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const iamAuthorizer = new HttpIamAuthorizer();
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const route of ROUTES) {
      const { method, path } = parseRouteKey(route.routeKey);
      const handler = handlers.get(route.fn);
      if (handler === undefined) throw new Error(`no function for route ${route.routeKey}`);
      let integration = integrations.get(route.fn);
      if (integration === undefined) {
        integration = new HttpLambdaIntegration(`${pascal(route.fn)}Integration`, handler);
        integrations.set(route.fn, integration);
      }
      const [created] = this.api.addRoutes({
        path,
        methods: [method],
        integration,
        ...(route.auth === 'iam' && { authorizer: iamAuthorizer }),
      });
      if (route.auth === 'none' && created !== undefined) {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'Public client route: the handler verifies the position/access token (or the identity JWT on join) itself.',
        });
      }
    }

    this.admitter = new FairqueueFunction(this, 'AdmitterFunction', {
      name: 'admitter',
      description: 'fairqueue: admits the next users of every open event, ticking inside one invocation',
      timeout: ADMITTER_TIMEOUT,
      logRetention,
      // A failed run is not worth retrying: the next scheduled run starts within a minute.
      retryAttempts: 0,
      // Reserved, so admissions go on when a join flood has taken every other Lambda slot of
      // the account. Two: a run may overlap the next scheduled one by a few seconds.
      ...(reserved && { reservedConcurrentExecutions: reserved.admitter }),
      environment: {
        ...commonEnvironment,
        FQ_ADMITTER_RUN_SECONDS: String(admitterRunSeconds),
      },
    });
    bindTable(this.admitter, this.table, WORKER_TABLE_GRANTS.admitter);
    allowNotify(this.admitter);
    // EventBridge rates stop at one minute; the admitter ticks every few seconds inside its run.
    new Rule(this, 'AdmitterSchedule', {
      description: 'Starts the fairqueue admitter once a minute',
      schedule: Schedule.rate(Duration.minutes(1)),
      // A start delayed past the next scheduled one is worthless; drop it instead of piling up.
      targets: [new LambdaFunction(this.admitter, { maxEventAge: Duration.minutes(1) })],
    });

    const functions = new Map<string, FairqueueFunction>([
      ...[...handlers].map(([name, fn]) => [name, fn] as const),
      ...[...webSocketHandlers].map(([routeKey, fn]) => [WEBSOCKET_HANDLERS[routeKey].fn, fn] as const),
      ['fanout', this.fanout],
      ...(this.push ? [['push', this.push] as const] : []),
      ['admitter', this.admitter],
      ['rotate-keys', this.keyRotator],
    ]);
    this.observability = new FairqueueObservability(this, 'Observability', {
      namespace: metricsNamespace,
      serviceName,
      table: this.table,
      httpStage: this.stage,
      functions: new Map([...functions].map(([name, fn]) => [pascal(name), fn])),
      workers: new Map([['fanout', this.fanout], ...(this.push ? [['push', this.push] as const] : [])]),
      ...(props.alarmTopic && { alarmTopic: props.alarmTopic }),
    });

    this.edge =
      props.cloudFront === false
        ? undefined
        : new FairqueueEdge(this, 'Edge', {
            api: this.api,
            corsAllowOrigins,
            ...(typeof props.cloudFront === 'object' && props.cloudFront),
          });
    if (this.edge) {
      this.observability.addEdge(this.edge.distribution.distributionId);
      // Only join counts clients by address, so only join is told what the distribution adds.
      handlers.get('join')?.addEnvironment(EDGE_SECRET_ENV, this.edge.secret.secretValue.unsafeUnwrap());
    }

    this.directApiUrl = this.stage.url;
    this.apiUrl = this.edge?.url ?? this.directApiUrl;
    const jwksRoute = ROUTES.find((route) => route.fn === 'jwks');
    if (jwksRoute === undefined) throw new Error('the route table has no jwks route');
    const jwksPath = parseRouteKey(jwksRoute.routeKey).path;
    this.jwksUrl = this.edge ? `https://${this.edge.host}${jwksPath}` : `${this.api.apiEndpoint}${jwksPath}`;

    // cdk-nag findings that do not fit, each with its reason. Acknowledgements on
    // this construct cover every resource inside it.
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM4[${LAMBDA_BASIC_EXECUTION_POLICY}]`,
      reason:
        'AWSLambdaBasicExecutionRole only allows writing to CloudWatch Logs; it is the AWS-recommended policy for that.',
    });
    if (!props.webSocketAccessLogs) {
      Validations.of(this.webSocketStage).acknowledge({
        id: 'AwsSolutions-APIG1',
        reason:
          'WebSocket access logs need the account-wide API Gateway CloudWatch Logs role, which this stack does not own; deploy with webSocketAccessLogs (context fairqueue:webSocketAccessLogs=true) where it is set. The handlers log every refused handshake.',
      });
    }
    Validations.of(this.keyRotator).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'secretsmanager:GetRandomPassword, added by addRotationSchedule, has no resource-level permissions; every other action is scoped to the key ring secret.',
    });
  }
}
