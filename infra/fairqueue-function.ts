import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  Code,
  type FunctionProps,
  Function as LambdaFunction,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { keys } from '#adapters/table-keys';
import { HANDLER_FILE, handlerBuildOptions, SOURCE_ROOT } from './lambda-bundle.ts';

/**
 * The ready bundles of the published package: `dist/lambda/{name}/` beside `dist/infra/`,
 * where this module lives once built. In the repository (`infra/`) the directory does not
 * exist and handlers are bundled from source instead.
 */
const PREBUILT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'lambda');

/**
 * The code of handler `name`: the package's ready bundle when there is one, otherwise an
 * asset bundled from `functions/{name}.ts` with esbuild at synth time (skipped, like every
 * bundling, for stacks outside `aws:cdk:bundling-stacks`).
 */
export function handlerCode(name: string): Code {
  const prebuilt = join(PREBUILT_DIR, name);
  if (existsSync(join(prebuilt, HANDLER_FILE))) return Code.fromAsset(prebuilt);
  if (!existsSync(join(SOURCE_ROOT, 'functions', `${name}.ts`))) {
    throw new Error(`fairqueue has no handler "${name}": neither ${prebuilt} nor functions/${name}.ts`);
  }
  return Code.fromAsset(SOURCE_ROOT, {
    // Hash the bundle, not the repository: the same code gives the same asset.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Only used if local bundling fails, which it does not where esbuild is installed.
      image: Runtime.NODEJS_22_X.bundlingImage,
      // CDK caches bundles by source path and options, and cannot see inside `local`: the
      // handler's name must be in the options, or every handler would get the first bundle.
      environment: { FAIRQUEUE_HANDLER: name },
      local: {
        tryBundle(outputDir: string): boolean {
          // Loaded here, not at the top: the packaged construct never bundles.
          const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
          buildSync(handlerBuildOptions(SOURCE_ROOT, name, outputDir));
          return true;
        },
      },
    },
  });
}

export interface FairqueueFunctionProps
  extends Omit<FunctionProps, 'code' | 'handler' | 'runtime' | 'architecture' | 'logGroup'> {
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
export class FairqueueFunction extends LambdaFunction {
  constructor(scope: Construct, id: string, props: FairqueueFunctionProps) {
    const { name, logRetention, environment, ...rest } = props;
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
      code: handlerCode(name),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      logGroup,
      environment: {
        // Without this flag Node ignores the .map files and stack traces point into minified code.
        NODE_OPTIONS: '--enable-source-maps',
        ...environment,
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
export function bindTable(fn: LambdaFunction, table: ITable, grant: TableGrant | null): void {
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
export function bindVerificationKeys(fn: LambdaFunction, table: ITable): void {
  fn.addEnvironment('FQ_KEYS', 'aws');
  fn.addToRolePolicy(publicKeysStatement(table, ['dynamodb:GetItem']));
}

/**
 * Lets a function sign tokens with the private ring in `secret` (read only: only the
 * rotation writes it), and verify them with the public keys like any verifier.
 */
export function bindSigningKeys(fn: LambdaFunction, secret: ISecret, table: ITable): void {
  bindVerificationKeys(fn, table);
  fn.addEnvironment('FQ_KEY_SECRET_ID', secret.secretArn);
  secret.grantRead(fn);
}

/** Binds what `access` allows; see KeyAccess. */
export function bindKeys(
  fn: LambdaFunction,
  access: KeyAccess,
  on: { readonly secret: ISecret; readonly table: ITable },
): void {
  if (access === 'sign') bindSigningKeys(fn, on.secret, on.table);
  else if (access === 'verify') bindVerificationKeys(fn, on.table);
}
