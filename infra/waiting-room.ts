import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type FunctionName, ROUTES } from '#http/routes';
import { bindSigningKeys, bindTable, FairqueueFunction, type TableAccess } from './fairqueue-function.ts';

/** Identity JWTs from the ticketing platform; when set, `sub` of that token is the user who joins. */
export interface IdentityProviderProps {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly audience?: string;
}

export interface FairqueueWaitingRoomProps {
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
  /** Seconds between admission ticks inside one admitter run. @default 5 */
  readonly tickSeconds?: number;
  /** How long one scheduled admitter invocation keeps ticking. @default 55 */
  readonly admitterRunSeconds?: number;
  /** How often a new signing key is added to the ring. @default Duration.days(30) */
  readonly keyRotationInterval?: Duration;
  /** Retention of function and access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

interface HandlerAccess {
  readonly table: TableAccess;
  /** Signs or verifies fairqueue tokens, so it reads the key ring. */
  readonly keys: boolean;
}

/**
 * Least privilege per handler, in one place. Typed by FunctionName, so a
 * handler added to the route table does not compile until someone decides
 * what it may touch.
 */
const HANDLER_ACCESS: Readonly<Record<FunctionName, HandlerAccess>> = {
  join: { table: 'readWrite', keys: true },
  // Hands out a refreshed position token, but never changes queue state.
  status: { table: 'read', keys: true },
  admission: { table: 'readWrite', keys: true },
  complete: { table: 'readWrite', keys: true },
  event: { table: 'read', keys: false },
  // Publishes the public half of the key ring and nothing else.
  jwks: { table: 'none', keys: true },
  admin: { table: 'readWrite', keys: false },
};

/** The admitter is invoked once a minute and must be finished before the next run. */
const ADMITTER_TIMEOUT = Duration.seconds(70);
const SCHEDULE_PERIOD_SECONDS = 60;

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

function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * A complete fairqueue deployment: the queue table, the signing key ring with
 * its rotation, one Lambda per handler behind an HTTP API built from the shared
 * route table, and the scheduled admitter.
 */
export class FairqueueWaitingRoom extends Construct {
  readonly table: Table;
  readonly signingKeys: Secret;
  readonly keyRotator: FairqueueFunction;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  /** One function per distinct `fn` of the route table. */
  readonly handlers: ReadonlyMap<FunctionName, FairqueueFunction>;
  readonly admitter: FairqueueFunction;
  /** Base URL of the API, with a trailing slash. */
  readonly apiUrl: string;
  readonly jwksUrl: string;

  constructor(scope: Construct, id: string, props: FairqueueWaitingRoomProps = {}) {
    super(scope, id);

    const issuer = props.issuer ?? 'fairqueue';
    const tickSeconds = props.tickSeconds ?? 5;
    const admitterRunSeconds = props.admitterRunSeconds ?? 55;
    const joinRateLimit = props.joinRateLimitPerMinute ?? 0;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
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
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.signingKeys = new Secret(this, 'SigningKeys', {
      description: 'fairqueue ES256 signing key ring; written only by the rotation function',
      // Not a secret: a placeholder with no keys. The immediate first rotation replaces it
      // with a real ring (rotate-keys starts a new ring when the current value is not one).
      secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ keys: [] })),
    });
    this.keyRotator = new FairqueueFunction(this, 'RotateKeysFunction', {
      name: 'rotate-keys',
      description: 'fairqueue: adds a new ES256 key to the signing key ring (Secrets Manager rotation)',
      timeout: Duration.seconds(30),
      logRetention,
    });
    // Grants the rotator Describe/Get/Put/UpdateVersionStage on this secret only and
    // lets Secrets Manager invoke it.
    this.signingKeys.addRotationSchedule('Rotation', {
      rotationLambda: this.keyRotator,
      automaticallyAfter: props.keyRotationInterval ?? Duration.days(30),
      // Tokens cannot be signed until a key exists, so rotate as soon as the stack is deployed.
      rotateImmediatelyOnUpdate: true,
    });

    const commonEnvironment = { FQ_ISSUER: issuer };
    const joinEnvironment: Record<string, string> = {
      FQ_JOIN_RATE_LIMIT_PER_MINUTE: String(joinRateLimit),
      ...(props.identity && {
        FQ_IDENTITY_ISSUER: props.identity.issuer,
        FQ_IDENTITY_JWKS_URL: props.identity.jwksUrl,
        ...(props.identity.audience !== undefined && { FQ_IDENTITY_AUDIENCE: props.identity.audience }),
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
      if (access.keys) bindSigningKeys(fn, this.signingKeys);
      handlers.set(name, fn);
    }
    this.handlers = handlers;

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
        allowOrigins: props.corsAllowOrigins ?? ['*'],
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT],
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
      environment: {
        ...commonEnvironment,
        FQ_TICK_SECONDS: String(tickSeconds),
        FQ_ADMITTER_RUN_SECONDS: String(admitterRunSeconds),
      },
    });
    bindTable(this.admitter, this.table, 'readWrite');
    // EventBridge rates stop at one minute; the admitter ticks every few seconds inside its run.
    new Rule(this, 'AdmitterSchedule', {
      description: 'Starts the fairqueue admitter once a minute',
      schedule: Schedule.rate(Duration.minutes(1)),
      // A start delayed past the next scheduled one is worthless; drop it instead of piling up.
      targets: [new LambdaFunction(this.admitter, { maxEventAge: Duration.minutes(1) })],
    });

    this.apiUrl = this.stage.url;
    const jwksRoute = ROUTES.find((route) => route.fn === 'jwks');
    if (jwksRoute === undefined) throw new Error('the route table has no jwks route');
    this.jwksUrl = `${this.api.apiEndpoint}${parseRouteKey(jwksRoute.routeKey).path}`;

    // cdk-nag findings that do not fit, each with its reason. Acknowledgements on
    // this construct cover every resource inside it.
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM4[${LAMBDA_BASIC_EXECUTION_POLICY}]`,
      reason:
        'AWSLambdaBasicExecutionRole only allows writing to CloudWatch Logs; it is the AWS-recommended policy for that.',
    });
    Validations.of(this.keyRotator).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'secretsmanager:GetRandomPassword, added by addRotationSchedule, has no resource-level permissions; every other action is scoped to the key ring secret.',
    });
  }
}
