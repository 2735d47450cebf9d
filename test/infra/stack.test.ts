import { readFileSync } from 'node:fs';
import { App, CfnResource, Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PriceClass } from 'aws-cdk-lib/aws-cloudfront';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EDGE_SECRET_HEADER } from '#http/edge';
import { type FunctionName, ROUTES } from '#http/routes';
import { edgeKindOf } from '../../infra/edge.ts';
import type { FairqueueFunction } from '../../infra/fairqueue-function.ts';
import { FairqueueStack, type FairqueueStackProps } from '../../infra/fairqueue-stack.ts';

// Bundling every handler with esbuild takes a few seconds on a cold machine.
const SYNTH_TIMEOUT_MS = 180_000;

/** The feature flags from cdk.json, so the template under test is the one `cdk synth` produces. */
function cdkContext(): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || !('context' in parsed)) return {};
  const { context } = parsed;
  return typeof context === 'object' && context !== null ? { ...context } : {};
}

/** A stack whose Lambda assets are not bundled: for tests that only look at wiring. */
function unbundledStack(props: FairqueueStackProps = {}): FairqueueStack {
  const app = new App({ context: { ...cdkContext(), 'aws:cdk:bundling-stacks': [] } });
  return new FairqueueStack(app, 'Unbundled', props);
}

function logicalId(stack: Stack, construct: IConstruct): string {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return stack.getLogicalId(resource);
}

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, string[]>>;
}

function isStatement(value: unknown): value is Statement {
  return typeof value === 'object' && value !== null && 'Action' in value && 'Effect' in value;
}

/** Every statement of every inline policy attached to the role `roleLogicalId`. */
function statementsOf(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleLogicalId }]) },
  });
  return Object.values(policies).flatMap((policy) => {
    const statements: unknown = policy.Properties.PolicyDocument.Statement;
    return Array.isArray(statements) ? statements.filter(isStatement) : [];
  });
}

function actionsOf(statements: Statement[]): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

const DYNAMODB_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];
/** Route handlers that sign tokens (and so read the private key ring). */
const SIGNING_FUNCTIONS: readonly FunctionName[] = ['join', 'status', 'admission'];
/** Route handlers that only verify tokens or publish the JWKS: public keys, nothing private. */
const VERIFYING_FUNCTIONS: readonly FunctionName[] = ['complete', 'access', 'leave', 'devices', 'jwks'];
const DISTINCT_FUNCTIONS = [...new Set(ROUTES.map((route) => route.fn))];

type WorkerName =
  | 'admitter'
  | 'rotate-keys'
  | 'ws-connect'
  | 'ws-disconnect'
  | 'ws-default'
  | 'fanout'
  | 'push';
type AnyFunction = FunctionName | WorkerName;
/** Every function that signs: the route handlers above and the fan-out worker (refreshed tokens). */
const SIGNERS: readonly AnyFunction[] = [...SIGNING_FUNCTIONS, 'fanout'];
/** Every function that verifies tokens but must not be able to sign them. */
const VERIFIERS: readonly AnyFunction[] = [...VERIFYING_FUNCTIONS, 'ws-connect'];
const WEBSOCKET_ROUTES = {
  $connect: 'ws-connect',
  $disconnect: 'ws-disconnect',
  $default: 'ws-default',
} as const;
/** Besides the route handlers: admitter, key rotator, three WebSocket handlers, fan-out. */
const WORKER_COUNT = 6;
/** Every function that builds the runtime (all but the key rotator), push aside. */
const RUNTIME_FUNCTIONS: readonly AnyFunction[] = [
  ...DISTINCT_FUNCTIONS,
  'admitter',
  'ws-connect',
  'ws-disconnect',
  'ws-default',
  'fanout',
];

const FCM_APP = 'arn:aws:sns:eu-west-1:123456789012:app/GCM/fairqueue-android';
const APNS_APP = 'arn:aws:sns:eu-west-1:123456789012:app/APNS/fairqueue-ios';
const PUSH_ENDPOINTS = [
  'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/fairqueue-ios/*',
  'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/fairqueue-android/*',
];

/** Looks up any function of a stack by its file name under `functions/`. */
function functionOf(stack: FairqueueStack, name: AnyFunction): FairqueueFunction {
  const room = stack.waitingRoom;
  const byName: Partial<Record<WorkerName, FairqueueFunction | undefined>> = {
    admitter: room.admitter,
    'rotate-keys': room.keyRotator,
    'ws-connect': room.webSocketHandlers.get('$connect'),
    'ws-disconnect': room.webSocketHandlers.get('$disconnect'),
    'ws-default': room.webSocketHandlers.get('$default'),
    fanout: room.fanout,
    push: room.push,
  };
  const fn = name in byName ? byName[name as WorkerName] : room.handlers.get(name as FunctionName);
  if (fn === undefined) throw new Error(`no function ${name}`);
  return fn;
}

function roleStatementsOf(stack: FairqueueStack, template: Template, name: AnyFunction): Statement[] {
  const fn = functionOf(stack, name);
  return statementsOf(template, logicalId(stack, fn.role ?? fn));
}

/**
 * Least privilege on the table, written out by hand: which item actions each function may
 * use, on which partitions (`dynamodb:LeadingKeys`). The KEYRING grant of verifiers and
 * signers is asserted apart.
 */
const TABLE_GRANTS: Readonly<
  Record<Exclude<AnyFunction, 'push'>, { actions: string[]; partitions: string[] } | null>
> = {
  join: {
    actions: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
    partitions: ['EVENT#*', 'RL#*'],
  },
  status: { actions: ['GetItem', 'Query'], partitions: ['EVENT#*'] },
  admission: {
    actions: ['ConditionCheckItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
    partitions: ['EVENT#*'],
  },
  complete: { actions: ['ConditionCheckItem', 'GetItem', 'UpdateItem'], partitions: ['EVENT#*'] },
  // The online access check reads one session item: a place's partition, nothing of the event.
  access: { actions: ['GetItem'], partitions: ['EVENT#*#PLACE#*'] },
  leave: {
    actions: ['ConditionCheckItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
    partitions: ['EVENT#*'],
  },
  devices: { actions: ['GetItem', 'PutItem', 'Query', 'UpdateItem'], partitions: ['EVENT#*'] },
  event: { actions: ['GetItem'], partitions: ['EVENT#*'] },
  jwks: null,
  admin: { actions: ['GetItem', 'PutItem', 'Query', 'UpdateItem'], partitions: ['ACTIVE_EVENTS', 'EVENT#*'] },
  admitter: {
    actions: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
    partitions: ['ACTIVE_EVENTS', 'EVENT#*'],
  },
  'ws-connect': {
    actions: ['DeleteItem', 'GetItem', 'PutItem', 'Query'],
    partitions: ['EVENT#*', 'WSCONN#*'],
  },
  'ws-disconnect': {
    actions: ['DeleteItem', 'GetItem'],
    partitions: ['EVENT#*#CONN#*', 'EVENT#*#PLACECONN#*', 'WSCONN#*'],
  },
  'ws-default': {
    actions: ['DeleteItem', 'GetItem', 'UpdateItem'],
    partitions: ['EVENT#*#CONN#*', 'EVENT#*#PLACECONN#*', 'WSCONN#*'],
  },
  fanout: {
    actions: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
    partitions: ['EVENT#*', 'WSCONN#*'],
  },
  'rotate-keys': null,
};

/** The one table grant of a role apart from the KEYRING grant, as sorted actions and partitions. */
function tableGrantOf(statements: Statement[]): { actions: string[]; partitions: string[] } | null {
  const grants = statements.filter(
    (s) =>
      actionsOf([s]).some((a) => a.startsWith('dynamodb:')) &&
      !JSON.stringify(s.Condition ?? {}).includes('"KEYRING"]'),
  );
  if (grants.length === 0) return null;
  expect(grants).toHaveLength(1);
  return {
    actions: actionsOf(grants)
      .map((a) => a.replace(/^dynamodb:/, ''))
      .sort(),
    partitions: [
      ...(grants[0]?.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []),
    ].sort(),
  };
}

/** Statements with their resource lists sorted: IAM policy minimization may reorder them. */
function sortedResources(statements: Statement[]): Statement[] {
  return statements.map((s) => (Array.isArray(s.Resource) ? { ...s, Resource: [...s.Resource].sort() } : s));
}

function nagErrors(stack: Stack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations
    .filter((v) => v.severity === 'error')
    .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

describe('Fairqueue stack', () => {
  let stack: FairqueueStack;
  let template: Template;

  beforeAll(() => {
    const app = new App({ context: cdkContext() });
    stack = new FairqueueStack(app, 'Fairqueue');
    template = Template.fromStack(stack);
  }, SYNTH_TIMEOUT_MS);

  function functionEnv(id: string): Record<string, unknown> {
    return template.findResources('AWS::Lambda::Function')[id]?.Properties.Environment.Variables ?? {};
  }

  function fnId(name: AnyFunction): string {
    return logicalId(stack, functionOf(stack, name));
  }

  function roleStatements(name: AnyFunction): Statement[] {
    return roleStatementsOf(stack, template, name);
  }

  const httpApiId = () => logicalId(stack, stack.waitingRoom.api);
  const webSocketApiId = () => logicalId(stack, stack.waitingRoom.webSocketApi);
  function resourcesOfApi(type: string, apiId: string) {
    return template.findResources(type, { Properties: { ApiId: { Ref: apiId } } });
  }

  describe('table', () => {
    it('is a single pk/sk table, on demand, with PITR and TTL and no GSI', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        GlobalSecondaryIndexes: Match.absent(),
      });
    });

    it('survives stack deletion', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });
  });

  describe('functions', () => {
    it('has one function per route-table handler, the workers, and no push worker while push is off', () => {
      expect(stack.waitingRoom.handlers.size).toBe(DISTINCT_FUNCTIONS.length);
      expect(stack.waitingRoom.push).toBeUndefined();
      template.resourceCountIs('AWS::Lambda::Function', DISTINCT_FUNCTIONS.length + WORKER_COUNT);
    });

    it('runs every function on Node 22, arm64, ESM bundle with source maps', () => {
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
        LoggingConfig: { LogGroup: Match.anyValue() },
      });
    });

    it('gives 512 MB to every function but the fan-out worker, which gets 1024 MB', () => {
      const functions = template.findResources('AWS::Lambda::Function');
      const fanout = fnId('fanout');
      for (const [id, fn] of Object.entries(functions)) {
        expect(fn.Properties.MemorySize, id).toBe(id === fanout ? 1024 : 512);
      }
    });

    it('keeps logs for a month', () => {
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('points every function that builds the runtime at the table, with one shard count', () => {
      const table = logicalId(stack, stack.waitingRoom.table);
      for (const name of RUNTIME_FUNCTIONS) {
        expect(functionEnv(fnId(name)), name).toMatchObject({
          FQ_STORE: 'dynamodb',
          FQ_TABLE: { Ref: table },
          FQ_ISSUER: 'fairqueue',
          FQ_WS_SHARDS: '16',
        });
      }
    });

    it('gives the key secret id to exactly the functions that sign tokens', () => {
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      for (const name of RUNTIME_FUNCTIONS) {
        const variables = functionEnv(fnId(name));
        if (SIGNERS.includes(name)) expect(variables.FQ_KEY_SECRET_ID, name).toEqual({ Ref: secret });
        else expect(variables.FQ_KEY_SECRET_ID, name).toBeUndefined();
      }
    });

    it('points every function that signs or verifies tokens at the public keys in the table', () => {
      for (const name of RUNTIME_FUNCTIONS) {
        const variables = functionEnv(fnId(name));
        if ([...SIGNERS, ...VERIFIERS].includes(name)) expect(variables.FQ_KEYS, name).toBe('aws');
        else expect(variables.FQ_KEYS, name).toBeUndefined();
      }
    });

    it('hands joiners the wss:// URL of the live stage, and only joiners', () => {
      for (const name of RUNTIME_FUNCTIONS) {
        const wsUrl = functionEnv(fnId(name)).FQ_WS_URL;
        if (name === 'join') {
          expect(wsUrl).toEqual({
            'Fn::Join': [
              '',
              [
                'wss://',
                { Ref: webSocketApiId() },
                '.execute-api.',
                { Ref: 'AWS::Region' },
                '.',
                { Ref: 'AWS::URLSuffix' },
                '/live',
              ],
            ],
          });
        } else expect(wsUrl, name).toBeUndefined();
      }
    });

    it('gives the management endpoint to the functions that post to or close connections, and only them', () => {
      const endpoint = {
        'Fn::Join': [
          '',
          [
            'https://',
            { Ref: webSocketApiId() },
            '.execute-api.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            '/live',
          ],
        ],
      };
      for (const name of RUNTIME_FUNCTIONS) {
        const value = functionEnv(fnId(name)).FQ_WS_MANAGEMENT_ENDPOINT;
        if (name === 'fanout' || name === 'ws-default' || name === 'ws-connect')
          expect(value, name).toEqual(endpoint);
        else expect(value, name).toBeUndefined();
      }
    });

    it('names the fan-out worker to the admitter, admin and leave only, and no push worker while push is off', () => {
      for (const name of RUNTIME_FUNCTIONS) {
        const variables = functionEnv(fnId(name));
        if (name === 'admitter' || name === 'admin' || name === 'leave') {
          expect(variables.FQ_FANOUT_FUNCTION, name).toEqual({ Ref: fnId('fanout') });
        } else expect(variables.FQ_FANOUT_FUNCTION, name).toBeUndefined();
        expect(variables.FQ_PUSH_FUNCTION, name).toBeUndefined();
        expect(variables.FQ_PUSH_FCM_APPLICATION_ARN, name).toBeUndefined();
        expect(variables.FQ_PUSH_APNS_APPLICATION_ARN, name).toBeUndefined();
        // The default notifier is the Lambda one; nothing sets it.
        expect(variables.FQ_NOTIFIER, name).toBeUndefined();
      }
    });
  });

  describe('WebSocket API', () => {
    it('routes $connect, $disconnect and $default to their own Lambda, without an authorizer', () => {
      const routes = Object.values(resourcesOfApi('AWS::ApiGatewayV2::Route', webSocketApiId()));
      const integrations = resourcesOfApi('AWS::ApiGatewayV2::Integration', webSocketApiId());
      expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(Object.keys(WEBSOCKET_ROUTES).sort());
      expect(Object.keys(integrations)).toHaveLength(3);
      for (const [routeKey, name] of Object.entries(WEBSOCKET_ROUTES)) {
        const route = routes.find((r) => r.Properties.RouteKey === routeKey);
        expect(route?.Properties.AuthorizationType, routeKey).toBe('NONE');
        const integrationId: unknown = route?.Properties.Target['Fn::Join'][1][1].Ref;
        const integration = integrations[String(integrationId)];
        expect(integration?.Properties.IntegrationType, routeKey).toBe('AWS_PROXY');
        expect(JSON.stringify(integration?.Properties.IntegrationUri), routeKey).toContain(
          JSON.stringify({ 'Fn::GetAtt': [fnId(name), 'Arn'] }),
        );
        template.hasResourceProperties('AWS::Lambda::Permission', {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [fnId(name), 'Arn'] },
          Principal: 'apigateway.amazonaws.com',
        });
      }
    });

    it('is a WEBSOCKET API with one throttled, auto-deployed live stage', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
      const stages = Object.values(resourcesOfApi('AWS::ApiGatewayV2::Stage', webSocketApiId()));
      expect(stages).toHaveLength(1);
      expect(stages[0]?.Properties).toMatchObject({
        StageName: 'live',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      });
      // Off by default: it needs the account-wide API Gateway CloudWatch role.
      expect(stages[0]?.Properties.AccessLogSettings).toBeUndefined();
    });

    it('logs access when asked to, without the query string that carries the token', () => {
      const custom = unbundledStack({
        waitingRoom: { webSocketAccessLogs: true, webSocketThrottle: { rateLimit: 10, burstLimit: 20 } },
      });
      const customTemplate = Template.fromStack(custom);
      const apiId = logicalId(custom, custom.waitingRoom.webSocketApi);
      const [stage] = Object.values(
        customTemplate.findResources('AWS::ApiGatewayV2::Stage', { Properties: { ApiId: { Ref: apiId } } }),
      );
      expect(stage?.Properties.DefaultRouteSettings).toEqual({
        ThrottlingRateLimit: 10,
        ThrottlingBurstLimit: 20,
      });
      const format: string = stage?.Properties.AccessLogSettings.Format;
      expect(format).toMatch(/connectionId/);
      expect(format).not.toMatch(/querystring|token/i);
      expect(nagErrors(custom)).toEqual([]);
    });

    it('runs fan-out as an asynchronous worker: retried (state changes must arrive), bounded age, 60 s', () => {
      const fanout = fnId('fanout');
      expect(template.findResources('AWS::Lambda::Function')[fanout]?.Properties.Timeout).toBe(60);
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fanout },
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: Match.anyValue(),
      });
      const [config] = Object.values(
        template.findResources('AWS::Lambda::EventInvokeConfig', {
          Properties: { FunctionName: { Ref: fanout } },
        }),
      );
      const age: number = config?.Properties.MaximumEventAgeInSeconds;
      expect(age).toBeGreaterThanOrEqual(60);
      expect(age).toBeLessThanOrEqual(300);
      expect(functionEnv(fanout)).toMatchObject({ FQ_FANOUT_CONCURRENCY: '64' });
    });

    it('gives every function the tick and the update budgets (decision 0012), from props', () => {
      for (const name of ['join', 'status', 'event', 'fanout', 'admitter'] as const)
        expect(functionEnv(fnId(name)), name).toMatchObject({
          FQ_TICK_SECONDS: '5',
          FQ_WS_MESSAGES_PER_SECOND: '2000',
          FQ_STATUS_REQUESTS_PER_SECOND: '1000',
          FQ_NEAR_HORIZON_SECONDS: '60',
        });
      const custom = unbundledStack({
        waitingRoom: {
          tickSeconds: 2,
          webSocketMessagesPerSecond: 5000,
          statusRequestsPerSecond: 300,
          nearHorizonSeconds: 30,
        },
      });
      const functions = Template.fromStack(custom).findResources('AWS::Lambda::Function');
      const id = logicalId(custom, functionOf(custom, 'fanout'));
      expect(functions[id]?.Properties.Environment.Variables).toMatchObject({
        FQ_TICK_SECONDS: '2',
        FQ_WS_MESSAGES_PER_SECOND: '5000',
        FQ_STATUS_REQUESTS_PER_SECOND: '300',
        FQ_NEAR_HORIZON_SECONDS: '30',
      });
      expect(() => unbundledStack({ waitingRoom: { webSocketMessagesPerSecond: 0 } })).toThrow(
        /webSocketMessagesPerSecond/,
      );
    });

    it('gives the WebSocket handlers the per-place connection cap and the message limit', () => {
      for (const name of ['ws-connect', 'ws-default', 'ws-disconnect'] as const) {
        expect(functionEnv(fnId(name)), name).toMatchObject({
          FQ_WS_MAX_CONNECTIONS_PER_PLACE: '3',
          FQ_WS_MAX_MESSAGES_PER_MINUTE: '60',
        });
      }
      const custom = unbundledStack({
        waitingRoom: { webSocketMaxConnectionsPerPlace: 1, webSocketMaxMessagesPerMinute: 10 },
      });
      const functions = Template.fromStack(custom).findResources('AWS::Lambda::Function');
      const id = logicalId(custom, functionOf(custom, 'ws-default'));
      expect(functions[id]?.Properties.Environment.Variables).toMatchObject({
        FQ_WS_MAX_CONNECTIONS_PER_PLACE: '1',
        FQ_WS_MAX_MESSAGES_PER_MINUTE: '10',
      });
      for (const bad of [0, 2.5]) {
        expect(() => unbundledStack({ waitingRoom: { webSocketMaxConnectionsPerPlace: bad } })).toThrow(
          /webSocketMaxConnectionsPerPlace/,
        );
        expect(() => unbundledStack({ waitingRoom: { webSocketMaxMessagesPerMinute: bad } })).toThrow(
          /webSocketMaxMessagesPerMinute/,
        );
      }
    });

    it('rejects a shard count that is not a whole number >= 1', () => {
      expect(() => unbundledStack({ waitingRoom: { webSocketShards: 0 } })).toThrow(/webSocketShards/);
      expect(() => unbundledStack({ waitingRoom: { webSocketShards: 2.5 } })).toThrow(/webSocketShards/);
    });

    it('passes a configured shard count to every function that builds the runtime', () => {
      const custom = unbundledStack({ waitingRoom: { webSocketShards: 4 } });
      const functions = Template.fromStack(custom).findResources('AWS::Lambda::Function');
      for (const name of RUNTIME_FUNCTIONS) {
        const id = logicalId(custom, functionOf(custom, name));
        expect(functions[id]?.Properties.Environment.Variables.FQ_WS_SHARDS, name).toBe('4');
      }
    });
  });

  describe('HTTP API', () => {
    it('has exactly one route per route-table row, IAM on admin routes and NONE elsewhere', () => {
      expect(Object.keys(resourcesOfApi('AWS::ApiGatewayV2::Route', httpApiId()))).toHaveLength(
        ROUTES.length,
      );
      for (const route of ROUTES) {
        template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
          RouteKey: route.routeKey,
          AuthorizationType: route.auth === 'iam' ? 'AWS_IAM' : 'NONE',
        });
      }
      expect(ROUTES.filter((r) => r.auth === 'iam').every((r) => r.routeKey.includes('/v1/admin/'))).toBe(
        true,
      );
    });

    it('sends every route to the Lambda named in the route table, one integration per function', () => {
      const routes = Object.values(resourcesOfApi('AWS::ApiGatewayV2::Route', httpApiId()));
      const integrations = resourcesOfApi('AWS::ApiGatewayV2::Integration', httpApiId());
      expect(Object.keys(integrations)).toHaveLength(DISTINCT_FUNCTIONS.length);
      for (const route of ROUTES) {
        const resource = routes.find((r) => r.Properties.RouteKey === route.routeKey);
        const integrationId: unknown = resource?.Properties.Target['Fn::Join'][1][1].Ref;
        expect(typeof integrationId, route.routeKey).toBe('string');
        const integration = integrations[String(integrationId)];
        expect(integration?.Properties.IntegrationUri, route.routeKey).toEqual({
          'Fn::GetAtt': [fnId(route.fn), 'Arn'],
        });
      }
    });

    it('throttles the default stage and writes access logs', () => {
      expect(Object.keys(resourcesOfApi('AWS::ApiGatewayV2::Stage', httpApiId()))).toHaveLength(1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: httpApiId() },
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: Match.anyValue(),
          ThrottlingBurstLimit: Match.anyValue(),
        },
        AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      });
    });

    it('uses a configured throttle', () => {
      const custom = unbundledStack({ waitingRoom: { throttle: { rateLimit: 50, burstLimit: 100 } } });
      Template.fromStack(custom).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: logicalId(custom, custom.waitingRoom.api) },
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      });
    });

    it('allows browser clients through CORS', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'HTTP',
        CorsConfiguration: {
          AllowMethods: Match.arrayWith(['GET', 'POST', 'PUT']),
          AllowHeaders: Match.arrayWith(['authorization', 'content-type']),
        },
      });
    });
  });

  describe('admitter', () => {
    it('is started every minute by an EventBridge rule', () => {
      const admitter = logicalId(stack, stack.waitingRoom.admitter);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [admitter, 'Arn'] } })],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [admitter, 'Arn'] },
        Principal: 'events.amazonaws.com',
      });
    });

    it('ticks inside one invocation that ends before its 70 s timeout', () => {
      const admitter = logicalId(stack, stack.waitingRoom.admitter);
      expect(template.findResources('AWS::Lambda::Function')[admitter]?.Properties.Timeout).toBe(70);
      expect(functionEnv(admitter)).toMatchObject({ FQ_TICK_SECONDS: '5', FQ_ADMITTER_RUN_SECONDS: '55' });
    });

    it('rejects a run longer than the schedule period', () => {
      expect(() => unbundledStack({ waitingRoom: { admitterRunSeconds: 90 } })).toThrow(/admitterRunSeconds/);
    });
  });

  describe('availability and observability', () => {
    const reservedOf = (t: Template, id: string): unknown =>
      t.findResources('AWS::Lambda::Function')[id]?.Properties.ReservedConcurrentExecutions;

    it('reserves concurrency for the admitter and the workers, and for nothing on the request path', () => {
      expect(reservedOf(template, fnId('admitter'))).toBe(2);
      expect(reservedOf(template, fnId('fanout'))).toBe(32); // 2 × the 16 shards
      for (const name of [...DISTINCT_FUNCTIONS, 'ws-connect', 'ws-disconnect', 'ws-default'] as const)
        expect(reservedOf(template, fnId(name)), name).toBeUndefined();
      const pushStack = unbundledStack({ waitingRoom: { push: { fcmApplicationArn: FCM_APP } } });
      expect(
        reservedOf(Template.fromStack(pushStack), logicalId(pushStack, functionOf(pushStack, 'push'))),
      ).toBe(4);
      const none = unbundledStack({ waitingRoom: { reservedConcurrency: false } });
      expect(
        reservedOf(Template.fromStack(none), logicalId(none, none.waitingRoom.admitter)),
      ).toBeUndefined();
      expect(() => unbundledStack({ waitingRoom: { reservedConcurrency: { admitter: 0 } } })).toThrow(
        /reservedConcurrency.admitter/,
      );
    });

    it('every function writes embedded metrics under the stack name', () => {
      for (const name of RUNTIME_FUNCTIONS) {
        expect(functionEnv(fnId(name)), name).toMatchObject({
          FQ_METRICS_NAMESPACE: 'fairqueue',
          POWERTOOLS_SERVICE_NAME: 'Fairqueue',
        });
      }
    });

    it('alarms when the admitter stalls: old ticks, or no tick figure at all, for two minutes', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'Fairqueue-AdmitterStalled',
        Metrics: [
          Match.objectLike({
            MetricStat: {
              Metric: {
                Namespace: 'fairqueue',
                MetricName: 'TickAge',
                Dimensions: [{ Name: 'service', Value: 'Fairqueue' }],
              },
              Stat: 'Maximum',
              Period: 60,
            },
          }),
        ],
        Threshold: 60,
        EvaluationPeriods: 2,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'breaching',
      });
    });

    it('alarms on DynamoDB throttling, 503s, the 5xx rate, fan-out and push failures', () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      const named = (name: string) => alarms.find((a) => a.Properties.AlarmName === `Fairqueue-${name}`);
      const throttle = named('DynamoDbThrottled');
      const throttleMetrics = JSON.stringify(throttle?.Properties.Metrics);
      expect(throttleMetrics).toContain('ReadThrottleEvents');
      expect(throttleMetrics).toContain('WriteThrottleEvents');
      const stat = (name: string) => named(name)?.Properties.Metrics?.[0]?.MetricStat;
      expect(stat('Throttled503')).toMatchObject({
        Metric: { MetricName: 'Throttled', Namespace: 'fairqueue' },
      });
      const rate = JSON.stringify(named('ServerErrorRate')?.Properties.Metrics);
      expect(rate).toContain('"MetricName":"5xx"');
      expect(rate).toContain('"MetricName":"Count"');
      expect(stat('FanoutFailures')).toMatchObject({ Metric: { MetricName: 'FanoutFailures' }, Period: 300 });
      expect(stat('PushFailures')).toMatchObject({ Metric: { MetricName: 'PushFailed' }, Period: 300 });
    });

    it('alarms on errors and throttles of every function', () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      for (const name of all) {
        const id = fnId(name);
        const watching = alarms.filter((a) => {
          const metrics = JSON.stringify(a.Properties.Metrics ?? []);
          return (
            metrics.includes('"Errors"') && metrics.includes('"Throttles"') && metrics.includes(`"${id}"`)
          );
        });
        expect(watching, name).toHaveLength(1);
      }
    });

    it('notifies the alarm topic on alarm and on recovery, when one is given', () => {
      for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm')))
        expect(alarm.Properties.AlarmActions).toBeUndefined();
      const withEmail = unbundledStack({ alarms: { email: 'ops@example.com' } });
      const t = Template.fromStack(withEmail);
      t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
      const topic = Object.keys(t.findResources('AWS::SNS::Topic'))[0] ?? '';
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms.length).toBeGreaterThan(10);
      for (const alarm of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: topic }]);
      }
      t.hasOutput('AlarmTopicArn', {});
      expect(nagErrors(withEmail)).toEqual([]);
      const existing = unbundledStack({
        alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-paging' },
      });
      const existingAlarms = Object.values(
        Template.fromStack(existing).findResources('AWS::CloudWatch::Alarm'),
      );
      for (const alarm of existingAlarms)
        expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:ops-paging']);
    });

    it('has one dashboard with the queue, admissions, latency, ticks, workers, DynamoDB and Lambda', () => {
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0];
      const body = JSON.stringify(dashboard?.Properties.DashboardBody);
      for (const metric of [
        'Joins',
        'JoinLatency',
        'Throttled',
        'ServerErrors',
        'Admitted',
        'QueueLength',
        'ActiveSessions',
        'Missed',
        'Expired',
        'TickDuration',
        'TickAge',
        'FanoutMessages',
        'FanoutFailures',
        'PushSent',
        'PushFailed',
        'ReadThrottleEvents',
        'ConsumedWriteCapacityUnits',
        'ConcurrentExecutions',
      ])
        expect(body, metric).toContain(metric);
      template.hasOutput('DashboardName', {});
    });

    it("shows the distribution's requests, error rates and bytes, read from us-east-1 where CloudFront publishes them", () => {
      /** The dashboard's widgets, with each token of the body (a reference) read as "TOKEN". */
      const widgetsOf = (t: Template): { properties: { metrics?: unknown[][]; region?: string } }[] => {
        const body = Object.values(t.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties
          .DashboardBody;
        const parts: unknown[] = body['Fn::Join'][1];
        return JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('')).widgets;
      };
      const edgeMetrics = (t: Template) =>
        widgetsOf(t)
          .flatMap((widget) => widget.properties.metrics ?? [])
          .filter((metric) => metric[0] === 'AWS/CloudFront');
      const metrics = edgeMetrics(template);
      expect(metrics.map((metric) => metric[1]).sort()).toEqual([
        '4xxErrorRate',
        '5xxErrorRate',
        'BytesDownloaded',
        'Requests',
      ]);
      for (const metric of metrics) {
        expect(metric.slice(2, 6)).toEqual(['DistributionId', 'TOKEN', 'Region', 'Global']);
        expect(metric[6]).toMatchObject({ region: 'us-east-1' });
      }
      // Without the distribution, no CloudFront row.
      expect(edgeMetrics(Template.fromStack(unbundledStack({ waitingRoom: { cloudFront: false } })))).toEqual(
        [],
      );
    });
  });

  describe('signing keys', () => {
    it('rotates the key ring at deploy and every 30 days', () => {
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      const rotator = logicalId(stack, stack.waitingRoom.keyRotator);
      // The key ring, and the edge's secret (decision 0011), which does not rotate.
      template.resourceCountIs('AWS::SecretsManager::Secret', 2);
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
      template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        SecretId: { Ref: secret },
        RotationLambdaARN: { 'Fn::GetAtt': [rotator, 'Arn'] },
        RotateImmediatelyOnUpdate: true,
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
      });
    });

    it('lets only Secrets Manager acting for this account invoke the rotator', () => {
      const rotator = logicalId(stack, stack.waitingRoom.keyRotator);
      const permissions = Object.values(
        template.findResources('AWS::Lambda::Permission', {
          Properties: { FunctionName: { 'Fn::GetAtt': [rotator, 'Arn'] } },
        }),
      );
      expect(permissions.map((p) => p.Properties)).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [rotator, 'Arn'] },
          Principal: 'secretsmanager.amazonaws.com',
          SourceAccount: { Ref: 'AWS::AccountId' },
        },
      ]);
    });

    it('tells the rotator the table and how long retired keys keep verifying (a day unless set)', () => {
      const rotator = logicalId(stack, stack.waitingRoom.keyRotator);
      expect(functionEnv(rotator)).toMatchObject({
        FQ_TABLE: { Ref: logicalId(stack, stack.waitingRoom.table) },
        FQ_RETIRED_KEY_RETENTION_SECONDS: '86400',
      });
      const custom = unbundledStack({ waitingRoom: { retiredKeyRetention: Duration.hours(6) } });
      const variables =
        Template.fromStack(custom).findResources('AWS::Lambda::Function')[
          logicalId(custom, custom.waitingRoom.keyRotator)
        ]?.Properties.Environment.Variables;
      expect(variables.FQ_RETIRED_KEY_RETENTION_SECONDS).toBe('21600');
    });

    it('lets the rotator manage versions of that secret only', () => {
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      const onSecret = roleStatements('rotate-keys').filter((s) =>
        JSON.stringify(s.Resource).includes(secret),
      );
      expect(actionsOf(onSecret).sort()).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
      ]);
    });

    it('lets the rotator write the public keys item and nothing else of the table', () => {
      const onTable = roleStatements('rotate-keys').filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('dynamodb:')),
      );
      expect(onTable).toEqual([
        {
          Effect: 'Allow',
          Action: 'dynamodb:PutItem',
          Resource: { 'Fn::GetAtt': [logicalId(stack, stack.waitingRoom.table), 'Arn'] },
          Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['KEYRING'] } },
        },
      ]);
    });
  });

  describe('least privilege', () => {
    it('grants no wildcard actions anywhere', () => {
      for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
        const statements: Statement[] = policy.Properties.PolicyDocument.Statement;
        for (const action of actionsOf(statements)) expect(action).not.toMatch(/\*/);
      }
    });

    it('lets every function that signs or verifies read the public keys item', () => {
      const tableArn = { 'Fn::GetAtt': [logicalId(stack, stack.waitingRoom.table), 'Arn'] };
      for (const name of [...SIGNERS, ...VERIFIERS]) {
        const reads = roleStatements(name).filter(
          (s) =>
            actionsOf([s]).includes('dynamodb:GetItem') &&
            JSON.stringify(s.Resource).includes(JSON.stringify(tableArn)),
        );
        expect(reads.length, name).toBeGreaterThan(0);
      }
    });

    it('lets jwks read the public keys item and nothing else: no other item, no secret', () => {
      const statements = roleStatements('jwks').filter(
        (s) => !actionsOf([s]).some((a) => a.startsWith('logs:')),
      );
      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: 'dynamodb:GetItem',
          Resource: { 'Fn::GetAtt': [logicalId(stack, stack.waitingRoom.table), 'Arn'] },
          Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['KEYRING'] } },
        },
      ]);
    });

    it.each(['event', 'status', 'access'] as const)('lets %s read the table but never write it', (name) => {
      const actions = actionsOf(roleStatements(name));
      expect(actions).toContain('dynamodb:GetItem');
      expect(actions.filter((a) => DYNAMODB_WRITE_ACTIONS.includes(a))).toEqual([]);
    });

    it.each(Object.entries(TABLE_GRANTS))(
      'grants %s exactly the item actions and partitions it uses',
      (name, expected) => {
        expect(tableGrantOf(roleStatements(name as AnyFunction))).toEqual(expected);
      },
    );

    it('lets nothing scan, batch or touch the table without naming its partitions', () => {
      const table = logicalId(stack, stack.waitingRoom.table);
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      for (const name of all) {
        for (const statement of roleStatements(name)) {
          const actions = actionsOf([statement]).filter((a) => a.startsWith('dynamodb:'));
          if (actions.length === 0) continue;
          expect(JSON.stringify(statement.Resource), name).toContain(table);
          expect(JSON.stringify(statement.Resource), name).not.toContain('index');
          expect(statement.Condition, name).toBeDefined();
          for (const forbidden of [
            'dynamodb:Scan',
            'dynamodb:BatchWriteItem',
            'dynamodb:BatchGetItem',
            'dynamodb:*',
          ])
            expect(actions, name).not.toContain(forbidden);
        }
      }
    });

    it('keeps the WebSocket disconnect and message handlers to their connection items', () => {
      for (const name of ['ws-disconnect', 'ws-default'] as const) {
        const grant = tableGrantOf(roleStatements(name));
        expect(grant?.partitions, name).not.toContain('EVENT#*');
        expect(
          grant?.partitions.every((p) => ['EVENT#*#CONN#*', 'EVENT#*#PLACECONN#*', 'WSCONN#*'].includes(p)),
        ).toBe(true);
      }
    });

    it('lets exactly the token signers and the rotator read the private key ring, and only the rotator write it', () => {
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      const readers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('secretsmanager:GetSecretValue'),
      );
      expect([...readers].sort()).toEqual([...SIGNERS, 'rotate-keys'].sort());
      for (const name of VERIFIERS) expect(readers, name).not.toContain(name);
      // Whatever reads the secret reads only this one.
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      for (const name of readers) {
        for (const statement of roleStatements(name)) {
          if (actionsOf([statement]).some((a) => a.startsWith('secretsmanager:GetSecretValue')))
            expect(JSON.stringify(statement.Resource), name).toContain(secret);
        }
      }
      const writers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('secretsmanager:PutSecretValue'),
      );
      expect(writers).toEqual(['rotate-keys']);
    });
    it("lets fan-out post, ws-connect close (evicting a place's oldest) and ws-default do both, on the live stage only", () => {
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      const managers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('execute-api:ManageConnections'),
      );
      expect([...managers].sort()).toEqual(['fanout', 'ws-connect', 'ws-default']);
      const expected: Record<string, string[]> = {
        fanout: ['DELETE', 'POST'],
        'ws-connect': ['DELETE'],
        'ws-default': ['DELETE', 'POST'],
      };
      for (const name of managers) {
        const statements = roleStatements(name).filter((s) => s.Action === 'execute-api:ManageConnections');
        const resources = statements.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
        const calls = resources.map((resource) => {
          const text = JSON.stringify(resource);
          expect(text, name).toContain(JSON.stringify({ Ref: webSocketApiId() }));
          return text.match(/\/live\/(POST|DELETE)\/@connections\/\*/)?.[1];
        });
        expect(calls.sort(), name).toEqual(expected[name]);
      }
    });

    it('lets only the admitter, admin and leave invoke functions, and only the fan-out worker', () => {
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      const invokers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('lambda:InvokeFunction'),
      );
      expect([...invokers].sort()).toEqual(['admin', 'admitter', 'leave']);
      for (const name of invokers) {
        const statements = roleStatements(name).filter((s) =>
          actionsOf([s]).includes('lambda:InvokeFunction'),
        );
        expect(
          statements.flatMap((s) => s.Resource as unknown[]),
          name,
        ).toEqual([{ 'Fn::GetAtt': [fnId('fanout'), 'Arn'] }]);
      }
    });

    it('grants no SNS action while push is off', () => {
      const all: readonly AnyFunction[] = [...RUNTIME_FUNCTIONS, 'rotate-keys'];
      for (const name of all) {
        expect(
          actionsOf(roleStatements(name)).filter((a) => a.startsWith('sns:')),
          name,
        ).toEqual([]);
      }
    });
  });

  describe('push', () => {
    let pushStack: FairqueueStack;
    let pushTemplate: Template;

    beforeAll(() => {
      pushStack = unbundledStack({
        waitingRoom: { push: { fcmApplicationArn: FCM_APP, apnsApplicationArn: APNS_APP } },
      });
      pushTemplate = Template.fromStack(pushStack);
    });

    const env = (name: AnyFunction): Record<string, unknown> =>
      pushTemplate.findResources('AWS::Lambda::Function')[logicalId(pushStack, functionOf(pushStack, name))]
        ?.Properties.Environment.Variables ?? {};
    const statements = (name: AnyFunction) => roleStatementsOf(pushStack, pushTemplate, name);
    const pushId = () => logicalId(pushStack, functionOf(pushStack, 'push'));
    const fanoutId = () => logicalId(pushStack, functionOf(pushStack, 'fanout'));

    it('adds a push worker: asynchronous with two retries, 60 s, table and SNS publish', () => {
      pushTemplate.resourceCountIs('AWS::Lambda::Function', DISTINCT_FUNCTIONS.length + WORKER_COUNT + 1);
      expect(pushTemplate.findResources('AWS::Lambda::Function')[pushId()]?.Properties.Timeout).toBe(60);
      pushTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: pushId() },
        MaximumRetryAttempts: 2,
      });
      expect(env('push')).toMatchObject({ FQ_STORE: 'dynamodb', FQ_WS_SHARDS: '16' });
      expect(tableGrantOf(statements('push'))).toEqual({
        actions: ['GetItem', 'Query', 'UpdateItem'],
        partitions: ['EVENT#*'],
      });
      expect(actionsOf(statements('push')).includes('secretsmanager:GetSecretValue')).toBe(false);
    });

    it('configures the platform applications on devices and push only', () => {
      const expected = {
        FQ_PUSH_FCM_APPLICATION_ARN: FCM_APP,
        FQ_PUSH_APNS_APPLICATION_ARN: APNS_APP,
        FQ_PUSH_APNS_SANDBOX: 'false',
      };
      for (const name of [...RUNTIME_FUNCTIONS, 'push'] as const) {
        if (name === 'devices' || name === 'push') expect(env(name), name).toMatchObject(expected);
        else expect(env(name).FQ_PUSH_FCM_APPLICATION_ARN, name).toBeUndefined();
      }
    });

    it('names both workers to the admitter, admin and leave, who may invoke exactly those two', () => {
      for (const name of [...RUNTIME_FUNCTIONS, 'push'] as const) {
        const variables = env(name);
        const invokes = statements(name).filter((s) => actionsOf([s]).includes('lambda:InvokeFunction'));
        if (name === 'admitter' || name === 'admin' || name === 'leave') {
          expect(variables).toMatchObject({
            FQ_FANOUT_FUNCTION: { Ref: fanoutId() },
            FQ_PUSH_FUNCTION: { Ref: pushId() },
          });
          const resources = invokes.flatMap((s) => s.Resource as unknown[]);
          expect(resources, name).toHaveLength(2);
          expect(resources, name).toEqual(
            expect.arrayContaining([
              { 'Fn::GetAtt': [fanoutId(), 'Arn'] },
              { 'Fn::GetAtt': [pushId(), 'Arn'] },
            ]),
          );
        } else {
          expect(variables.FQ_PUSH_FUNCTION, name).toBeUndefined();
          expect(invokes, name).toEqual([]);
        }
      }
    });

    it('lets devices create endpoints on the applications, manage and publish to only their endpoints', () => {
      const sns = statements('devices').filter((s) => actionsOf([s]).some((a) => a.startsWith('sns:')));
      expect(sortedResources(sns)).toEqual([
        { Effect: 'Allow', Action: 'sns:CreatePlatformEndpoint', Resource: [APNS_APP, FCM_APP] },
        {
          Effect: 'Allow',
          Action: ['sns:GetEndpointAttributes', 'sns:Publish', 'sns:SetEndpointAttributes'],
          Resource: PUSH_ENDPOINTS,
        },
      ]);
    });

    it('lets push publish to those endpoints and nothing else on SNS', () => {
      const sns = statements('push').filter((s) => actionsOf([s]).some((a) => a.startsWith('sns:')));
      expect(sortedResources(sns)).toEqual([
        { Effect: 'Allow', Action: 'sns:Publish', Resource: PUSH_ENDPOINTS },
      ]);
    });

    it('grants SNS to devices and push only', () => {
      const all = [...RUNTIME_FUNCTIONS, 'rotate-keys', 'push'] as const;
      const withSns = all.filter((name) => actionsOf(statements(name)).some((a) => a.startsWith('sns:')));
      expect([...withSns].sort()).toEqual(['devices', 'push']);
    });

    it('passes cdk-nag with push configured', () => {
      expect(nagErrors(pushStack)).toEqual([]);
    });

    it('takes the APNs sandbox flag from a sandbox application and rejects a contradiction', () => {
      const sandboxApp = 'arn:aws:sns:eu-west-1:123456789012:app/APNS_SANDBOX/fairqueue-ios';
      const sandbox = unbundledStack({ waitingRoom: { push: { apnsApplicationArn: sandboxApp } } });
      const devices = logicalId(sandbox, functionOf(sandbox, 'devices'));
      const variables =
        Template.fromStack(sandbox).findResources('AWS::Lambda::Function')[devices]?.Properties.Environment
          .Variables;
      expect(variables).toMatchObject({
        FQ_PUSH_APNS_APPLICATION_ARN: sandboxApp,
        FQ_PUSH_APNS_SANDBOX: 'true',
      });
      expect(variables.FQ_PUSH_FCM_APPLICATION_ARN).toBeUndefined();
      expect(() =>
        unbundledStack({ waitingRoom: { push: { apnsApplicationArn: sandboxApp, apnsSandbox: false } } }),
      ).toThrow(/apnsSandbox/);
    });

    it('rejects an ARN that is not a platform application of the right kind', () => {
      expect(() => unbundledStack({ waitingRoom: { push: { fcmApplicationArn: APNS_APP } } })).toThrow(
        /fcmApplicationArn/,
      );
      expect(() =>
        unbundledStack({
          waitingRoom: { push: { apnsApplicationArn: 'arn:aws:sns:eu-west-1:123456789012:my-topic' } },
        }),
      ).toThrow(/apnsApplicationArn/);
    });

    it('still deploys the devices route while push is off (it answers 503)', () => {
      expect(stack.waitingRoom.handlers.get('devices')).toBeDefined();
      expect(ROUTES.some((r) => r.fn === 'devices')).toBe(true);
    });
  });

  describe('configuration', () => {
    it('passes identity and join rate limit to join only', () => {
      const custom = unbundledStack({
        waitingRoom: {
          issuer: 'tickets.example',
          identity: { issuer: 'https://id.example', jwksUrl: 'https://id.example/jwks.json', audience: 'fq' },
          joinRateLimitPerMinute: 30,
        },
      });
      const customTemplate = Template.fromStack(custom);
      const join = custom.waitingRoom.handlers.get('join');
      if (join === undefined) throw new Error('no join function');
      const functions = customTemplate.findResources('AWS::Lambda::Function');
      for (const [id, fn] of Object.entries(functions)) {
        const variables = fn.Properties.Environment.Variables;
        if (id === logicalId(custom, join)) {
          expect(variables).toMatchObject({
            FQ_ISSUER: 'tickets.example',
            FQ_IDENTITY_ISSUER: 'https://id.example',
            FQ_IDENTITY_JWKS_URL: 'https://id.example/jwks.json',
            FQ_IDENTITY_AUDIENCE: 'fq',
            FQ_JOIN_RATE_LIMIT_PER_MINUTE: '30',
          });
        } else {
          expect(variables.FQ_IDENTITY_ISSUER, id).toBeUndefined();
        }
      }
    });
  });

  describe('CloudFront in front of the HTTP API', () => {
    interface Behaviour {
      readonly PathPattern?: string;
      readonly AllowedMethods: string[];
      readonly CachedMethods: string[];
      readonly CachePolicyId: { Ref: string };
      readonly OriginRequestPolicyId?: { Ref: string };
      readonly ResponseHeadersPolicyId?: { Ref: string };
      readonly Compress: boolean;
      readonly ViewerProtocolPolicy: string;
    }
    const ALL_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'];
    const distributionId = () => {
      const { edge } = stack.waitingRoom;
      if (edge === undefined) throw new Error('no distribution');
      return logicalId(stack, edge.distribution);
    };
    const config = () =>
      template.findResources('AWS::CloudFront::Distribution')[distributionId()]?.Properties
        .DistributionConfig;
    const behaviours = (): Behaviour[] => config().CacheBehaviors;
    const behaviour = (pattern: string): Behaviour => {
      const found = behaviours().find((b) => b.PathPattern === pattern);
      if (found === undefined) throw new Error(`no behaviour ${pattern}`);
      return found;
    };
    const policy = (type: string, ref: { Ref: string } | undefined) =>
      ref === undefined ? undefined : template.findResources(type)[ref.Ref]?.Properties;
    const cachePolicy = (b: Behaviour) =>
      policy('AWS::CloudFront::CachePolicy', b.CachePolicyId)?.CachePolicyConfig;
    const requestPolicy = (b: Behaviour) =>
      policy('AWS::CloudFront::OriginRequestPolicy', b.OriginRequestPolicyId)?.OriginRequestPolicyConfig;
    /** The `{{resolve:secretsmanager:…}}` reference to the edge secret, as CloudFormation fills it in. */
    const edgeSecretRef = () => {
      const { edge } = stack.waitingRoom;
      if (edge === undefined) throw new Error('no distribution');
      return {
        'Fn::Join': [
          '',
          ['{{resolve:secretsmanager:', { Ref: logicalId(stack, edge.secret) }, ':SecretString:::}}'],
        ],
      };
    };
    /** What nothing of a viewer's request may add to a cache key or an origin request. */
    const NOTHING = { HeaderBehavior: 'none' };

    it('is on by default: one distribution, HTTPS only, in front of the HTTP API over TLS 1.2', () => {
      template.resourceCountIs('AWS::CloudFront::Distribution', 1);
      const { Origins: origins, PriceClass: priceClass, HttpVersion: httpVersion } = config();
      expect(priceClass).toBe('PriceClass_All');
      expect(httpVersion).toBe('http2and3');
      expect(origins).toHaveLength(1);
      expect(origins[0]).toMatchObject({
        DomainName: {
          'Fn::Join': [
            '',
            [{ Ref: httpApiId() }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }],
          ],
        },
        CustomOriginConfig: { OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] },
        OriginCustomHeaders: [{ HeaderName: EDGE_SECRET_HEADER, HeaderValue: edgeSecretRef() }],
      });
      for (const b of [config().DefaultCacheBehavior, ...behaviours()])
        expect(b.ViewerProtocolPolicy).toBe('https-only');
    });

    it('tries the fan routes before the event document, so the cached behaviour never serves a sub-route', () => {
      expect(behaviours().map((b) => b.PathPattern)).toEqual([
        '/v1/events/*/*',
        '/v1/events/*',
        '/.well-known/jwks.json',
      ]);
      // Every route of the table lands where it must: only the document and the JWKS are cached.
      for (const route of ROUTES) {
        const path = (route.routeKey.split(' ')[1] ?? '').replace('{eventId}', 'e1');
        const expected =
          route.fn === 'event' ? 'eventDocument' : route.fn === 'jwks' ? 'jwks' : 'passThrough';
        expect(edgeKindOf(path), route.routeKey).toBe(expected);
      }
      // Routes to come under an event (v1.1 access) and odd paths stay uncached too.
      for (const path of [
        '/v1/events/e1/access',
        '/v1/events/e1/',
        '/v1/events/e1/status/x',
        '/V1/events/e1',
      ])
        expect(edgeKindOf(path), path).toBe('passThrough');
      fc.assert(
        fc.property(
          fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/),
          fc.string({ unit: fc.constantFrom('a', 'z', '/', '.', '%', '-', '?', '*') }),
          (eventId, rest) => {
            expect(edgeKindOf(`/v1/events/${eventId}`)).toBe('eventDocument');
            expect(edgeKindOf(`/v1/events/${eventId}/${rest}`)).toBe('passThrough');
          },
        ),
      );
    });

    it('caches the event document for 1 s, one copy per event for everyone', () => {
      const document = behaviour('/v1/events/*');
      expect(document).toMatchObject({
        AllowedMethods: ['GET', 'HEAD'],
        CachedMethods: ['GET', 'HEAD'],
        Compress: true,
      });
      expect(cachePolicy(document)).toMatchObject({
        MinTTL: 0,
        DefaultTTL: 1,
        MaxTTL: 1,
        ParametersInCacheKeyAndForwardedToOrigin: {
          HeadersConfig: NOTHING,
          CookiesConfig: { CookieBehavior: 'none' },
          QueryStringsConfig: { QueryStringBehavior: 'none' },
        },
      });
      // Nothing else of the viewer's request reaches the API either: no Authorization, no cookie.
      expect(document.OriginRequestPolicyId).toBeUndefined();
    });

    it('keeps the JWKS as long as its Cache-Control max-age says (up to a day), one copy', () => {
      const jwks = behaviour('/.well-known/jwks.json');
      expect(jwks).toMatchObject({ AllowedMethods: ['GET', 'HEAD'], Compress: true });
      expect(cachePolicy(jwks)).toMatchObject({
        MinTTL: 0,
        DefaultTTL: 0,
        MaxTTL: 86_400,
        ParametersInCacheKeyAndForwardedToOrigin: {
          HeadersConfig: NOTHING,
          CookiesConfig: { CookieBehavior: 'none' },
          QueryStringsConfig: { QueryStringBehavior: 'none' },
        },
      });
      expect(jwks.OriginRequestPolicyId).toBeUndefined();
    });

    it('passes every other request through uncached, all methods, with exactly the headers the routes read', () => {
      for (const b of [behaviour('/v1/events/*/*'), config().DefaultCacheBehavior as Behaviour]) {
        expect(b.AllowedMethods).toEqual(ALL_METHODS);
        expect(b.CachedMethods).toEqual(['GET', 'HEAD']);
        expect(b.ResponseHeadersPolicyId).toBeUndefined();
        // Authorization travels only as part of a cache key; the shortest TTLs that allow one,
        // and fan answers say no-store (the access check's, private), so nothing is kept.
        expect(cachePolicy(b)).toMatchObject({
          MinTTL: 0,
          DefaultTTL: 0,
          MaxTTL: 1,
          ParametersInCacheKeyAndForwardedToOrigin: {
            HeadersConfig: { HeaderBehavior: 'whitelist', Headers: ['authorization'] },
            CookiesConfig: { CookieBehavior: 'none' },
            QueryStringsConfig: { QueryStringBehavior: 'none' },
          },
        });
        // The body's type, CORS (origin and a preflight's two) and the viewer's address; never
        // Host (API Gateway answers only to its own), no cookie, no query string.
        expect(requestPolicy(b)).toMatchObject({
          HeadersConfig: {
            HeaderBehavior: 'whitelist',
            Headers: [
              'content-type',
              'origin',
              'access-control-request-method',
              'access-control-request-headers',
              'CloudFront-Viewer-Address',
            ],
          },
          CookiesConfig: { CookieBehavior: 'none' },
          QueryStringsConfig: { QueryStringBehavior: 'none' },
        });
      }
    });

    it('passes the online access check through uncached: its `private` answer stays with the backend', () => {
      expect(edgeKindOf('/v1/events/e1/access')).toBe('passThrough');
      expect(ROUTES.some((r) => r.routeKey === 'GET /v1/events/{eventId}/access')).toBe(true);
      // CloudFront honours `private` (and `no-store`) only while the minimum TTL is 0; the
      // bearer token is in the cache key, so even a kept answer could reach no one else.
      expect(cachePolicy(behaviour('/v1/events/*/*'))).toMatchObject({
        MinTTL: 0,
        ParametersInCacheKeyAndForwardedToOrigin: {
          HeadersConfig: { HeaderBehavior: 'whitelist', Headers: ['authorization'] },
        },
      });
    });

    it('gives the cached answers the CORS headers the API would, since they reach it without Origin', () => {
      for (const pattern of ['/v1/events/*', '/.well-known/jwks.json']) {
        const cors = policy(
          'AWS::CloudFront::ResponseHeadersPolicy',
          behaviour(pattern).ResponseHeadersPolicyId,
        )?.ResponseHeadersPolicyConfig.CorsConfig;
        expect(cors, pattern).toMatchObject({
          AccessControlAllowOrigins: { Items: ['*'] },
          AccessControlAllowMethods: { Items: ['GET', 'HEAD'] },
          AccessControlExposeHeaders: { Items: ['retry-after'] },
          AccessControlAllowCredentials: false,
          OriginOverride: true,
        });
      }
      const custom = Template.fromStack(
        unbundledStack({ waitingRoom: { corsAllowOrigins: ['https://tickets.example'] } }),
      );
      custom.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
        ResponseHeadersPolicyConfig: {
          CorsConfig: Match.objectLike({ AccessControlAllowOrigins: { Items: ['https://tickets.example'] } }),
        },
      });
      custom.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://tickets.example'] }),
      });
    });

    it('holds a 5xx for one second, not the ten CloudFront would', () => {
      expect(config().CustomErrorResponses).toEqual(
        [500, 502, 503, 504].map((code) => ({ ErrorCode: code, ErrorCachingMinTTL: 1 })),
      );
    });

    it('names its policies per stack and region (policy names are unique across an account)', () => {
      for (const type of [
        'AWS::CloudFront::CachePolicy',
        'AWS::CloudFront::OriginRequestPolicy',
        'AWS::CloudFront::ResponseHeadersPolicy',
      ]) {
        for (const resource of Object.values(template.findResources(type))) {
          const name = JSON.stringify(Object.values(resource.Properties)[0]);
          expect(name, type).toContain('"Fairqueue-');
          expect(name, type).toContain('{"Ref":"AWS::Region"}');
        }
      }
    });

    it('tells join, and only join, the secret the distribution adds', () => {
      for (const name of RUNTIME_FUNCTIONS) {
        const value = functionEnv(fnId(name)).FQ_EDGE_SECRET;
        if (name === 'join') expect(value).toEqual(edgeSecretRef());
        else expect(value, name).toBeUndefined();
      }
      // Generated at deploy, long, and read by no function at run time.
      template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false },
      });
      const edgeSecret = stack.waitingRoom.edge?.secret;
      if (edgeSecret === undefined) throw new Error('no edge secret');
      for (const name of [...RUNTIME_FUNCTIONS, 'rotate-keys'] as const)
        expect(JSON.stringify(roleStatements(name)), name).not.toContain(logicalId(stack, edgeSecret));
    });

    it('gives clients the distribution and operators the API itself; wsUrl stays the WebSocket API', () => {
      const domain = { 'Fn::GetAtt': [distributionId(), 'DomainName'] };
      template.hasOutput('ApiUrl', { Value: { 'Fn::Join': ['', ['https://', domain, '/']] } });
      template.hasOutput('JwksUrl', {
        Value: { 'Fn::Join': ['', ['https://', domain, '/.well-known/jwks.json']] },
      });
      template.hasOutput('DirectApiUrl', {
        Value: {
          'Fn::Join': [
            '',
            [
              'https://',
              { Ref: httpApiId() },
              '.execute-api.',
              { Ref: 'AWS::Region' },
              '.',
              { Ref: 'AWS::URLSuffix' },
              '/',
            ],
          ],
        },
      });
      template.hasOutput('DistributionId', { Value: { Ref: distributionId() } });
      expect(JSON.stringify(functionEnv(fnId('join')).FQ_WS_URL)).toContain('wss://');
    });

    it('takes a price class and a WAF web ACL', () => {
      const webAclId = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/onsale/0f1e2d3c';
      const custom = unbundledStack({
        waitingRoom: { cloudFront: { priceClass: PriceClass.PRICE_CLASS_100, webAclId } },
      });
      Template.fromStack(custom).hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: Match.objectLike({ PriceClass: 'PriceClass_100', WebACLId: webAclId }),
      });
      expect(nagErrors(custom)).toEqual([]);
    });

    it('serves your own domain with your certificate over TLS 1.2, and hands that host to clients', () => {
      const certificateArn =
        'arn:aws:acm:us-east-1:123456789012:certificate/5e1f0c7a-0000-4000-8000-000000000001';
      const custom = unbundledStack({
        domain: { names: ['queue.example.com', 'wait.example.com'], certificateArn },
      });
      const withDomain = Template.fromStack(custom);
      withDomain.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: Match.objectLike({
          Aliases: ['queue.example.com', 'wait.example.com'],
          ViewerCertificate: {
            AcmCertificateArn: certificateArn,
            MinimumProtocolVersion: 'TLSv1.2_2021',
            SslSupportMethod: 'sni-only',
          },
        }),
      });
      withDomain.hasOutput('ApiUrl', { Value: 'https://queue.example.com/' });
      withDomain.hasOutput('JwksUrl', { Value: 'https://queue.example.com/.well-known/jwks.json' });
      withDomain.hasOutput('DistributionDomainName', {
        Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('Distribution'), 'DomainName'] },
      });
      // With a certificate of its own, the distribution needs no CFR4 acknowledgement.
      expect(nagErrors(custom)).toEqual([]);
      expect(() => unbundledStack({ domain: { names: [], certificateArn } })).toThrow(
        /at least one host name/,
      );
      expect(() =>
        unbundledStack({
          domain: { names: ['queue.example.com'], certificateArn },
          waitingRoom: { cloudFront: false },
        }),
      ).toThrow(/needs cloudFront on/);
    });

    it('keeps the table on deletion unless told otherwise (removalPolicy)', () => {
      const destroy = Template.fromStack(
        unbundledStack({ waitingRoom: { removalPolicy: RemovalPolicy.DESTROY } }),
      );
      destroy.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Delete',
        UpdateReplacePolicy: 'Delete',
      });
    });

    it('cloudFront: false is the stack as it was without it: no edge, the API URL for everyone', () => {
      const on = Template.fromStack(unbundledStack()).toJSON();
      const offStack = unbundledStack({ waitingRoom: { cloudFront: false } });
      const off = Template.fromStack(offStack).toJSON();
      expect(offStack.waitingRoom.edge).toBeUndefined();
      // Every resource but the edge's is the same, and join loses only the edge secret. (The
      // dashboard loses its CloudFront row: the test of that row checks both dashboards.)
      const dashboard = (resource: { Type: string }) => resource.Type === 'AWS::CloudWatch::Dashboard';
      const expected = Object.fromEntries(
        Object.entries<{ Type: string; Properties?: { Environment?: { Variables?: object } } }>(on.Resources)
          .filter(([id, resource]) => !id.startsWith('WaitingRoomEdge') && !dashboard(resource))
          .map(([id, resource]) => {
            const variables = resource.Properties?.Environment?.Variables;
            if (variables === undefined || !('FQ_EDGE_SECRET' in variables)) return [id, resource];
            const { FQ_EDGE_SECRET: _secret, ...rest } = variables;
            return [
              id,
              { ...resource, Properties: { ...resource.Properties, Environment: { Variables: rest } } },
            ];
          }),
      );
      expect(
        Object.fromEntries(
          Object.entries<{ Type: string }>(off.Resources).filter(([, resource]) => !dashboard(resource)),
        ),
      ).toEqual(expected);
      expect(JSON.stringify(off.Resources)).not.toMatch(/CloudFront|FQ_EDGE_SECRET/);
      const apiId = logicalId(offStack, offStack.waitingRoom.api);
      const endpoint = [
        'https://',
        { Ref: apiId },
        '.execute-api.',
        { Ref: 'AWS::Region' },
        '.',
        { Ref: 'AWS::URLSuffix' },
      ];
      expect(Object.keys(off.Outputs).sort()).toEqual(
        ['ApiUrl', 'DashboardName', 'JwksUrl', 'KeySecretArn', 'TableName', 'WebSocketUrl'].sort(),
      );
      expect(off.Outputs.ApiUrl).toEqual({
        Description: 'Base URL of the fairqueue HTTP API',
        Value: { 'Fn::Join': ['', [...endpoint, '/']] },
      });
      expect(off.Outputs.JwksUrl.Value).toEqual({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [apiId, 'ApiEndpoint'] }, '/.well-known/jwks.json']],
      });
      expect(nagErrors(offStack)).toEqual([]);
    });
  });

  it('exports the URLs and names operators need', () => {
    for (const name of ['ApiUrl', 'TableName', 'KeySecretArn', 'JwksUrl', 'WebSocketUrl'])
      template.hasOutput(name, {});
    template.hasOutput('WebSocketUrl', {
      Value: { 'Fn::Join': ['', Match.arrayWith(['wss://', { Ref: webSocketApiId() }, '/live'])] },
    });
    template.hasOutput('JwksUrl', {
      Value: { 'Fn::Join': ['', [Match.anyValue(), Match.anyValue(), '/.well-known/jwks.json']] },
    });
  });

  it('passes cdk-nag AwsSolutions checks, every exception acknowledged with a reason', () => {
    expect(nagErrors(stack)).toEqual([]);
  });
});
