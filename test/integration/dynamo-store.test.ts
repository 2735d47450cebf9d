import { beforeAll, inject } from 'vitest';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { describeQueueStore } from './queue-store.contract.ts';

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('contract');
beforeAll(() => createTable(endpoint, table));

describeQueueStore('DynamoDB Local', () => new DynamoQueueStore(dynamoClient(endpoint), table));
