/** The device store contract on every adapter: in memory, SQLite (a temp file) and DynamoDB Local. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { DynamoDeviceStore } from '#adapters/dynamo-devices';
import { MemoryDeviceStore } from '#adapters/memory-devices';
import { openSqlite, type SqliteDatabase, sqliteFile } from '#adapters/sqlite-db';
import { SqliteDeviceStore } from '#adapters/sqlite-devices';
import { createTable, dynamoClient, uniqueTableName } from '../support/dynamodb-local.ts';
import { describeDeviceStore } from './device-store.contract.ts';

describeDeviceStore('embedded (memory)', () => new MemoryDeviceStore());

const opened: SqliteDatabase[] = [];
afterAll(() => {
  for (const database of opened) database.close();
});
const file = sqliteFile(mkdtempSync(join(tmpdir(), 'fq-sqlite-devices-')));
describeDeviceStore('embedded (SQLite)', () => {
  const database = openSqlite(file);
  opened.push(database);
  return new SqliteDeviceStore(database);
});

const endpoint = inject('ddbEndpoint');
const table = uniqueTableName('devices');
beforeAll(() => createTable(endpoint, table));
describeDeviceStore('DynamoDB Local', () => new DynamoDeviceStore(dynamoClient(endpoint), table));
