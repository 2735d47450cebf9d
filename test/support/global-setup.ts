/**
 * Vitest globalSetup: one DynamoDB Local for the whole run, shared by every test file.
 * Files isolate themselves by creating their own table (`uniqueTableName`), so they
 * can run in parallel against the same emulator.
 *
 * Tests read the endpoint with `inject('ddbEndpoint')`; code that only sees the
 * environment (handlers, the local runtime) reads FQ_TEST_DDB_ENDPOINT. When that
 * variable is already set, the emulator it names is used and none is started.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from './dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** DynamoDB Local endpoint, `http://127.0.0.1:<port>`. */
    ddbEndpoint: string;
  }
}

export const ENDPOINT_ENV = 'FQ_TEST_DDB_ENDPOINT';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const existing = process.env[ENDPOINT_ENV];
  if (existing) {
    project.provide('ddbEndpoint', existing);
    return async () => {};
  }

  const ddb = await startDynamoDbLocal();
  // Set before the workers fork, so they inherit it.
  process.env[ENDPOINT_ENV] = ddb.endpoint;
  project.provide('ddbEndpoint', ddb.endpoint);
  return async () => {
    delete process.env[ENDPOINT_ENV];
    await ddb.stop();
  };
}
