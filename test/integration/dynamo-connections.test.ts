import { beforeAll, inject } from 'vitest';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { describeConnectionRegistry } from './connection-registry.contract.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('connections');
beforeAll(() => createTable(endpoint, table));

// The registry's clock: connections added at NOW (1.8e9) are within their TTL.
describeConnectionRegistry(
  'DynamoDB Local',
  () => new DynamoConnectionRegistry(dynamoClient(endpoint), table, 4, () => 1_800_000_000_000),
);
