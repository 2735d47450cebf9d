import { readFileSync } from 'node:fs';
import { App, CfnResource, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, ROUTES } from '#http/routes';
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
}

function isStatement(value: unknown): value is Statement {
  return typeof value === 'object' && value !== null && 'Action' in value && 'Effect' in value;
}

/** Every statement of every inline policy attached to the role of `fnLogicalId`. */
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
const SIGNING_FUNCTIONS: readonly FunctionName[] = ['join', 'status', 'admission', 'complete', 'jwks'];
const DISTINCT_FUNCTIONS = [...new Set(ROUTES.map((route) => route.fn))];

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

  function fnId(name: FunctionName): string {
    const fn = stack.waitingRoom.handlers.get(name);
    if (fn === undefined) throw new Error(`no function ${name}`);
    return logicalId(stack, fn);
  }

  function roleStatements(name: FunctionName | 'admitter' | 'rotate-keys'): Statement[] {
    const room = stack.waitingRoom;
    const fn =
      name === 'admitter'
        ? room.admitter
        : name === 'rotate-keys'
          ? room.keyRotator
          : room.handlers.get(name);
    if (fn === undefined) throw new Error(`no function ${name}`);
    return statementsOf(template, logicalId(stack, fn.role ?? fn));
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
    it('has one function per route-table handler plus the admitter and the key rotator', () => {
      expect(stack.waitingRoom.handlers.size).toBe(DISTINCT_FUNCTIONS.length);
      template.resourceCountIs('AWS::Lambda::Function', DISTINCT_FUNCTIONS.length + 2);
    });

    it('runs every function on Node 22, arm64, ESM bundle with source maps', () => {
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 512,
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
        LoggingConfig: { LogGroup: Match.anyValue() },
      });
    });

    it('keeps logs for a month', () => {
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('points every API function and the admitter at the table', () => {
      const table = logicalId(stack, stack.waitingRoom.table);
      const ids = [...DISTINCT_FUNCTIONS.map(fnId), logicalId(stack, stack.waitingRoom.admitter)];
      for (const id of ids) {
        expect(functionEnv(id), id).toMatchObject({
          FQ_STORE: 'dynamodb',
          FQ_TABLE: { Ref: table },
          FQ_ISSUER: 'fairqueue',
        });
      }
    });

    it('gives the key secret id to exactly the functions that sign or verify tokens', () => {
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      for (const name of DISTINCT_FUNCTIONS) {
        const variables = functionEnv(fnId(name));
        if (SIGNING_FUNCTIONS.includes(name))
          expect(variables.FQ_KEY_SECRET_ID, name).toEqual({ Ref: secret });
        else expect(variables.FQ_KEY_SECRET_ID, name).toBeUndefined();
      }
    });
  });

  describe('HTTP API', () => {
    it('has exactly one route per route-table row, IAM on admin routes and NONE elsewhere', () => {
      template.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
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
      template.resourceCountIs('AWS::ApiGatewayV2::Integration', DISTINCT_FUNCTIONS.length);
      const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
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
      template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
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

  describe('signing keys', () => {
    it('rotates the key ring at deploy and every 30 days', () => {
      const secret = logicalId(stack, stack.waitingRoom.signingKeys);
      const rotator = logicalId(stack, stack.waitingRoom.keyRotator);
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        SecretId: { Ref: secret },
        RotationLambdaARN: { 'Fn::GetAtt': [rotator, 'Arn'] },
        RotateImmediatelyOnUpdate: true,
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [rotator, 'Arn'] },
        Principal: 'secretsmanager.amazonaws.com',
      });
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
      expect(actionsOf(roleStatements('rotate-keys')).some((a) => a.startsWith('dynamodb:'))).toBe(false);
    });
  });

  describe('least privilege', () => {
    it('grants no wildcard actions anywhere', () => {
      for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
        const statements: Statement[] = policy.Properties.PolicyDocument.Statement;
        for (const action of actionsOf(statements)) expect(action).not.toMatch(/\*/);
      }
    });

    it('gives jwks the key ring and no table access', () => {
      const actions = actionsOf(roleStatements('jwks'));
      expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
      expect(actions).toContain('secretsmanager:GetSecretValue');
    });

    it.each(['event', 'status'] as const)('lets %s read the table but never write it', (name) => {
      const actions = actionsOf(roleStatements(name));
      expect(actions).toContain('dynamodb:GetItem');
      expect(actions.filter((a) => DYNAMODB_WRITE_ACTIONS.includes(a))).toEqual([]);
    });

    it.each(['join', 'admission', 'complete', 'admin', 'admitter'] as const)(
      'lets %s write the table',
      (name) => {
        expect(actionsOf(roleStatements(name))).toEqual(expect.arrayContaining(DYNAMODB_WRITE_ACTIONS));
      },
    );

    it('lets only token signers and the rotator read the key ring, and only the rotator write it', () => {
      const all = [...DISTINCT_FUNCTIONS, 'admitter', 'rotate-keys'] as const;
      const readers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('secretsmanager:GetSecretValue'),
      );
      expect(readers.sort()).toEqual([...SIGNING_FUNCTIONS, 'rotate-keys'].sort());
      const writers = all.filter((name) =>
        actionsOf(roleStatements(name)).includes('secretsmanager:PutSecretValue'),
      );
      expect(writers).toEqual(['rotate-keys']);
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

  it('exports the URLs and names operators need', () => {
    for (const name of ['ApiUrl', 'TableName', 'KeySecretArn', 'JwksUrl']) template.hasOutput(name, {});
    template.hasOutput('JwksUrl', {
      Value: { 'Fn::Join': ['', [Match.anyValue(), '/.well-known/jwks.json']] },
    });
  });

  it('passes cdk-nag AwsSolutions checks, every exception acknowledged with a reason', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const errors = report.violations
      .filter((v) => v.severity === 'error')
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(errors).toEqual([]);
  });
});
