import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { keys } from '#adapters/dynamo-table';

/** Repository root: esbuild resolves `#domain/*` aliases and the lock file from here. */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface FairqueueFunctionProps
  extends Omit<NodejsFunctionProps, 'entry' | 'handler' | 'runtime' | 'architecture' | 'logGroup'> {
  /** File under `functions/` without `.ts`; it must export `handler`. */
  readonly name: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * The one way fairqueue builds a Lambda: Node 22 on arm64, an ESM bundle with
 * source maps, an explicit log group with retention. Every handler gets the same
 * defaults so a difference between two functions is always a deliberate prop.
 */
export class FairqueueFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: FairqueueFunctionProps) {
    const { name, logRetention, bundling, environment, ...rest } = props;
    // The log group is created up front (not on first invocation by Lambda) so
    // retention applies from day one and the group is owned by the stack.
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention ?? RetentionDays.ONE_MONTH,
      // Retention already bounds what the logs are worth; keeping orphaned
      // groups after the stack is gone would only leave clutter behind.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      memorySize: 512,
      timeout: Duration.seconds(10),
      ...rest,
      entry: join(PROJECT_ROOT, 'functions', `${name}.ts`),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        // Without this flag Node ignores the .map files and stack traces point into minified code.
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        // Prefer the ESM build of dual packages so tree shaking works.
        mainFields: ['module', 'main'],
        minify: true,
        // Error and class names survive minification, so logs stay readable.
        keepNames: true,
        sourceMap: true,
        // Traces still map to file:line; leaving the sources out keeps the zip small.
        sourcesContent: false,
        // Ship the SDK version pinned in package-lock.json rather than whatever the runtime carries.
        bundleAwsSDK: true,
        externalModules: [],
        // CJS dependencies bundled into ESM still call require(); give them one.
        // The import is aliased so it cannot clash with a bundled `createRequire`.
        banner:
          "import { createRequire as __fqCreateRequire } from 'node:module'; const require = __fqCreateRequire(import.meta.url);",
        // Bundle sizes on every synth are noise; warnings and errors still show.
        logLevel: LogLevel.WARNING,
        ...bundling,
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node 22 is pinned on purpose: the bundle targets node22 and the code is tested on it; runtime and esbuild target move together in one deliberate change.',
    });
  }
}

/** The DynamoDB item actions fairqueue uses; nothing scans, nothing touches the table itself. */
export type DynamoAction =
  | 'GetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'ConditionCheckItem';

/**
 * What a function may do on the table: these item actions, on these partitions only
 * (`dynamodb:LeadingKeys` patterns from shared/adapters/dynamo-table.ts). Transactions
 * need nothing more: IAM checks each of their items as the action it is.
 */
export interface TableGrant {
  readonly actions: readonly DynamoAction[];
  readonly partitions: readonly string[];
}

/**
 * Points the function's queue store at `table` and grants exactly `grant`. Null still
 * hands over the name: `readConfig` requires FQ_TABLE whenever FQ_STORE is `dynamodb`,
 * even in a function (jwks) that reads only the public keys.
 */
export function bindTable(fn: NodejsFunction, table: ITable, grant: TableGrant | null): void {
  fn.addEnvironment('FQ_STORE', 'dynamodb');
  fn.addEnvironment('FQ_TABLE', table.tableName);
  if (grant === null) return;
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: grant.actions.map((action) => `dynamodb:${action}`),
      resources: [table.tableArn],
      // ForAllValues is true for a request without keys (a Scan): no grant ever includes one.
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...grant.partitions] } },
    }),
  );
}

/**
 * What a function does with fairqueue's tokens, which decides the keys it may read:
 * `sign` (signs, and verifies) reads the secret with the private ring; `verify` (verifies,
 * or serves the JWKS) reads only the public keys item of the table; `none` reads neither.
 */
export type KeyAccess = 'sign' | 'verify' | 'none';

/** `actions` on the table, limited to the partition that holds the public keys (dynamo-table.ts). */
export function publicKeysStatement(table: ITable, actions: string[]): PolicyStatement {
  return new PolicyStatement({
    actions,
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [keys.publicKeys.pk] } },
  });
}

/**
 * Lets a function verify tokens and serve the JWKS with the public keys the rotation
 * publishes to the table: GetItem on the KEYRING partition, which no table grant covers.
 */
export function bindVerificationKeys(fn: NodejsFunction, table: ITable): void {
  fn.addEnvironment('FQ_KEYS', 'aws');
  fn.addToRolePolicy(publicKeysStatement(table, ['dynamodb:GetItem']));
}

/**
 * Lets a function sign tokens with the private ring in `secret` (read only: only the
 * rotation writes it), and verify them with the public keys like any verifier.
 */
export function bindSigningKeys(fn: NodejsFunction, secret: ISecret, table: ITable): void {
  bindVerificationKeys(fn, table);
  fn.addEnvironment('FQ_KEY_SECRET_ID', secret.secretArn);
  secret.grantRead(fn);
}

/** Binds what `access` allows; see KeyAccess. */
export function bindKeys(
  fn: NodejsFunction,
  access: KeyAccess,
  on: { readonly secret: ISecret; readonly table: ITable },
): void {
  if (access === 'sign') bindSigningKeys(fn, on.secret, on.table);
  else if (access === 'verify') bindVerificationKeys(fn, on.table);
}
