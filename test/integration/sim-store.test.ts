/**
 * The simulator's DynamoDB (bench/simulate) is only worth its figures if the real adapter
 * behaves on it as on DynamoDB: the queue-store contract suite runs on DynamoQueueStore
 * over the simulated document client, with no latency, and in virtual time with latency,
 * transaction locks and (generous) throughput limits.
 */
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { DynamoTable } from '#adapters/dynamo-table';
import { dynamoModelSchema, SimDynamoDB } from '../../bench/simulate/dynamodb.ts';
import { Random } from '../../bench/simulate/random.ts';
import { Scheduler } from '../../bench/simulate/scheduler.ts';
import { describeQueueStore } from './queue-store.contract.ts';

const TABLE = 'sim';

describeQueueStore('simulated DynamoDB, no latency', () => {
  const engine = new SimDynamoDB(TABLE, dynamoModelSchema.parse({}), null, new Random(1));
  return new DynamoQueueStore(new DynamoTable(engine.immediateClient(), TABLE));
});

// The contract's races send every request at one virtual instant; with the transaction-lock
// model on, each of them would conflict with the first (test/unit/sim-dynamodb.test.ts covers locks).
describeQueueStore('simulated DynamoDB, virtual time with latency and limits', () => {
  const scheduler = new Scheduler(Date.UTC(2026, 10, 22)).autoRun();
  const engine = new SimDynamoDB(
    TABLE,
    dynamoModelSchema.parse({ transactionLockShare: 0 }),
    scheduler,
    new Random(2),
    scheduler.now(),
  );
  const context = { weight: 1, caller: 'contract', started: () => {}, settled: () => {} };
  return new DynamoQueueStore(
    new DynamoTable(
      engine.client(() => context),
      TABLE,
      { sleep: scheduler.sleep },
    ),
  );
});
