/**
 * DynamoDB throttling and unexpected failures, seen from the client: the handlers of
 * `functions/` over a runtime whose DynamoDB store talks to a mocked document client.
 * A throttle is a 503 `throttled` with `Retry-After`; anything unexpected is a bare
 * 500 `internal_error`; neither ever carries AWS text or an error's detail.
 */
import '../support/handler-env.ts';
import 'aws-sdk-client-mock-vitest/extend';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import {
  DynamoDBServiceException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
  ThrottlingException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { readConfig } from '#app/config';
import { buildRuntime, type Runtime, setRuntime } from '#app/runtime';

import { handler as admin } from '#functions/admin';
import { handler as admission } from '#functions/admission';
import { handler as complete } from '#functions/complete';
import { handler as event } from '#functions/event';
import { handler as join } from '#functions/join';
import { handler as status } from '#functions/status';
import { lambdaContext } from '#local/gateway';
import { apiEvent } from '../support/forge.ts';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const TABLE = 't';
const EVENT_ID = 'e1';
const SERVING = 10;
const POS = 3;
const SID = 's_session';
const nowSec = () => Math.floor(Date.now() / 1000);

const ddb = mockClient(DynamoDBDocumentClient);
let rt: Runtime;
let positionToken = '';
let accessToken = '';
let keyDir = '';

/** A runtime with the same keys and nothing cached yet (a new Lambda environment). */
function freshRuntime() {
  rt = buildRuntime(readConfig({ FQ_STORE: 'dynamodb', FQ_TABLE: TABLE, FQ_KEY_DIR: keyDir }));
  setRuntime(rt);
}

beforeAll(async () => {
  keyDir = mkdtempSync(joinPath(tmpdir(), 'fq-throttle-keys-'));
  freshRuntime();
  positionToken = (
    await rt.tokens.signPosition({
      eventId: EVENT_ID,
      sub: 'u1',
      pos: POS,
      nowSec: nowSec(),
      ttlSeconds: 3600,
    })
  ).token;
  accessToken = await rt.tokens.signAccess({
    eventId: EVENT_ID,
    sub: 'u1',
    pos: POS,
    sid: SID,
    nowSec: nowSec(),
    exp: nowSec() + 3600,
  });
});
afterEach(() => {
  ddb.reset();
});
afterAll(() => {
  ddb.restore();
  setRuntime(undefined);
});

// ---------------------------------------------------------------------------------------------
// Items as the DynamoDB layout stores them (shared/adapters/dynamo-store.ts)
// ---------------------------------------------------------------------------------------------

const metaItem = () => ({
  pk: `EVENT#${EVENT_ID}`,
  sk: 'META',
  eventId: EVENT_ID,
  state: 'open',
  config: {
    capacity: 5,
    admitPerMinute: null,
    purchaseWindowSeconds: 1200,
    claimWindowSeconds: 300,
    positionTtlSeconds: 1800,
    nearThreshold: 100,
  },
  createdAt: nowSec() - 600,
  updatedAt: nowSec() - 60,
  version: 4,
  servingPosition: SERVING,
  inUse: 3,
  releasedThrough: 0,
  rateCredit: 0,
  lastTickAtMs: Date.now() - 1000,
  completedSeen: 0,
  missed: 0,
  expired: 0,
  recentTicks: [],
});

const batchItem = () => ({
  pk: `EVENT#${EVENT_ID}`,
  sk: `ADM#${String(SERVING).padStart(12, '0')}`,
  from: 0,
  to: SERVING,
  at: nowSec() - 10,
  claimBy: nowSec() + 290,
});

const sessionItem = () => ({
  pk: `EVENT#${EVENT_ID}#PLACE#${POS}`,
  sk: 'SESSION',
  sessionId: SID,
  sub: 'u1',
  claimedAt: nowSec() - 5,
  endsAt: nowSec() + 1195,
  claimBy: nowSec() + 290,
});

/** Every read finds the event (and nothing else unless asked); every write succeeds. */
function healthyTable(options: { event?: boolean; session?: boolean; batch?: boolean } = {}) {
  ddb.onAnyCommand().resolves({});
  ddb.on(UpdateCommand).resolves({ Attributes: { issued: 11 } });
  ddb.on(QueryCommand).resolves({ Items: options.batch ? [batchItem()] : [] });
  if (options.event ?? true) {
    ddb.on(GetCommand, { Key: { pk: `EVENT#${EVENT_ID}`, sk: 'META' } }).resolves({ Item: metaItem() });
  }
  if (options.session) {
    ddb
      .on(GetCommand, { Key: { pk: `EVENT#${EVENT_ID}#PLACE#${POS}`, sk: 'SESSION' } })
      .resolves({ Item: sessionItem() });
  }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface Route {
  readonly name: string;
  readonly handler: Handler;
  readonly event: () => APIGatewayProxyEventV2;
}

const ROUTES: Route[] = [
  {
    name: 'join (with userId)',
    handler: join,
    event: () => apiEvent('POST /v1/events/{eventId}/join', { eventId: EVENT_ID, body: { userId: 'u1' } }),
  },
  {
    name: 'join (anonymous)',
    handler: join,
    event: () => apiEvent('POST /v1/events/{eventId}/join', { eventId: EVENT_ID, body: {} }),
  },
  {
    name: 'status',
    handler: status,
    event: () => apiEvent('GET /v1/events/{eventId}/status', { eventId: EVENT_ID, token: positionToken }),
  },
  {
    name: 'admission',
    handler: admission,
    event: () => apiEvent('POST /v1/events/{eventId}/admission', { eventId: EVENT_ID, token: positionToken }),
  },
  {
    name: 'complete',
    handler: complete,
    event: () => apiEvent('POST /v1/events/{eventId}/complete', { eventId: EVENT_ID, token: accessToken }),
  },
  {
    name: 'public event',
    handler: event,
    event: () => apiEvent('GET /v1/events/{eventId}', { eventId: EVENT_ID }),
  },
  {
    name: 'admin put',
    handler: admin,
    event: () => apiEvent('PUT /v1/admin/events/{eventId}', { eventId: EVENT_ID, body: { capacity: 7 } }),
  },
  {
    name: 'admin pause',
    handler: admin,
    event: () => apiEvent('POST /v1/admin/events/{eventId}/pause', { eventId: EVENT_ID }),
  },
  {
    name: 'admin stats',
    handler: admin,
    event: () => apiEvent('GET /v1/admin/events/{eventId}/stats', { eventId: EVENT_ID }),
  },
];

const routeNamed = (name: string): Route => {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route ${name}`);
  return route;
};

async function invoke(route: Route) {
  const result = await route.handler(route.event(), lambdaContext('test'));
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]),
  );
  const text = result.body ?? '';
  return { status: result.statusCode, headers, text, body: text ? JSON.parse(text) : undefined };
}

type Answer = Awaited<ReturnType<typeof invoke>>;

/** Nothing of the error may reach the client: not its name, message, ARNs or stack. */
function expectNoLeak(answer: Answer, error: Error) {
  expect(answer.text).not.toContain(error.message);
  expect(answer.text).not.toContain(error.name);
  for (const leak of [
    /arn:aws/i,
    /amazonaws/i,
    /dynamodb/i,
    /\.ts:\d+/,
    /node_modules/,
    /\n\s*at /,
    /secret/i,
  ]) {
    expect(answer.text).not.toMatch(leak);
  }
}

function expectThrottled(answer: Answer, error: Error) {
  expect(answer.status).toBe(503);
  expect(answer.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.body).toStrictEqual({ error: { code: 'throttled', message: expect.any(String) } });
  expectNoLeak(answer, error);
}

function expectInternal(answer: Answer, error: Error) {
  expect(answer.status).toBe(500);
  expect(answer.body).toStrictEqual({ error: { code: 'internal_error', message: expect.any(String) } });
  expect(answer.headers['retry-after']).toBeUndefined();
  expectNoLeak(answer, error);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const meta = { $metadata: { httpStatusCode: 400, requestId: 'REQ123SECRETID' } };

const THROTTLES: [string, () => Error][] = [
  [
    'ProvisionedThroughputExceededException',
    () =>
      new ProvisionedThroughputExceededException({
        ...meta,
        message:
          'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API. arn:aws:dynamodb:eu-west-1:123456789012:table/t',
      }),
  ],
  [
    'ThrottlingException',
    () =>
      new ThrottlingException({
        ...meta,
        message:
          'Rate of requests exceeds the allowed throughput for arn:aws:dynamodb:eu-west-1:123456789012:table/t.',
      }),
  ],
  [
    'RequestLimitExceeded',
    () =>
      new RequestLimitExceeded({
        ...meta,
        message:
          'Throughput exceeds the current throughput limit for your account 123456789012. Please contact AWS Support',
      }),
  ],
];

const UNEXPECTED: [string, () => Error][] = [
  ['a plain Error', () => new Error('boom secret detail')],
  ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'secretField')")],
  [
    'ResourceNotFoundException (no table)',
    () =>
      new ResourceNotFoundException({ ...meta, message: 'Requested resource not found: Table: t not found' }),
  ],
  [
    'AccessDeniedException',
    () =>
      new DynamoDBServiceException({
        ...meta,
        name: 'AccessDeniedException',
        $fault: 'client',
        message:
          'User: arn:aws:sts::123456789012:assumed-role/fq-join/secret is not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/t',
      }),
  ],
  [
    'ValidationException',
    () =>
      new DynamoDBServiceException({
        ...meta,
        name: 'ValidationException',
        $fault: 'client',
        message: 'One or more parameter values were invalid: secret key attribute pk is missing',
      }),
  ],
];

// ---------------------------------------------------------------------------------------------
// Throttling
// ---------------------------------------------------------------------------------------------

describe.each(THROTTLES)('DynamoDB throws %s', (_, makeError) => {
  test.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s: every call throttles -> 503 throttled with Retry-After',
    async (_name, route) => {
      const error = makeError();
      ddb.onAnyCommand().rejects(error);
      const answer = await invoke(route);
      expectThrottled(answer, error);
      expect(ddb).toHaveReceivedAnyCommand();
    },
  );

  // A throttle part-way through a use case, after earlier calls succeeded.
  test.each<[string, string, () => void, () => void]>([
    [
      'join (anonymous): the position counter update',
      'join (anonymous)',
      () => {
        healthyTable();
        ddb.on(UpdateCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(UpdateCommand),
    ],
    [
      'join (with userId): binding the user to the place',
      'join (with userId)',
      () => {
        healthyTable();
        ddb.on(PutCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(PutCommand),
    ],
    [
      'status: the admission batch lookup',
      'status',
      () => {
        // A process that has read the batch once keeps it (batches never change).
        freshRuntime();
        healthyTable();
        ddb.on(QueryCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(QueryCommand),
    ],
    [
      'admission: the claim transaction',
      'admission',
      () => {
        healthyTable({ batch: true });
        ddb.on(TransactWriteCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(TransactWriteCommand),
    ],
    [
      'admission: the session read',
      'admission',
      () => {
        healthyTable({ batch: true });
        ddb
          .on(GetCommand, { Key: { pk: `EVENT#${EVENT_ID}#PLACE#${POS}`, sk: 'SESSION' } })
          .rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(GetCommand),
    ],
    [
      'complete: the completion transaction',
      'complete',
      () => {
        healthyTable({ session: true });
        ddb.on(TransactWriteCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(TransactWriteCommand),
    ],
    [
      'public event: the counters read',
      'public event',
      () => {
        healthyTable();
        ddb.on(GetCommand, { Key: { pk: `EVENT#${EVENT_ID}`, sk: 'COUNTER' } }).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(GetCommand),
    ],
    [
      'admin put: the create transaction',
      'admin put',
      () => {
        healthyTable({ event: false });
        ddb.on(TransactWriteCommand).rejects(makeError());
      },
      () => expect(ddb).toHaveReceivedCommand(TransactWriteCommand),
    ],
  ])('%s throttles -> 503 throttled', async (_name, routeName, arrange, reached) => {
    arrange();
    const answer = await invoke(routeNamed(routeName));
    expectThrottled(answer, makeError());
    reached();
  });
});

describe('controls: the same requests over a healthy table succeed', () => {
  test.each<[string, () => void, number]>([
    ['join (anonymous)', () => healthyTable(), 201],
    ['join (with userId)', () => healthyTable(), 201],
    ['status', () => healthyTable({ batch: true }), 200],
    ['admission', () => healthyTable({ batch: true }), 200],
    ['complete', () => healthyTable({ session: true }), 204],
    ['public event', () => healthyTable(), 200],
    ['admin stats', () => healthyTable(), 200],
  ])('%s -> %i', async (name, arrange, expected) => {
    arrange();
    const answer = await invoke(routeNamed(name));
    expect(answer.status).toBe(expected);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { TableName: TABLE });
  });
});

describe('transaction conflicts that never clear', () => {
  const conflict = () =>
    new TransactionCanceledException({
      ...meta,
      message:
        'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
      CancellationReasons: [
        { Code: 'None' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
      ],
    });

  test.each([
    ['admission', 'the claim', { batch: true }],
    ['admin put', 'the create', { event: false }],
  ] as const)('%s (%s): retried a few times, then 503 throttled', async (name, _, table) => {
    healthyTable(table);
    const error = conflict();
    ddb.on(TransactWriteCommand).rejects(error);
    const answer = await invoke(routeNamed(name));
    expectThrottled(answer, error);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 5);
  });
});

describe('transactions cancelled because an item was throttled', () => {
  // DynamoDB does not throw ThrottlingException for a throttled transaction: it cancels it with
  // TransactionCanceledException and a per-item reason code ThrottlingError (on-demand tables) or
  // ProvisionedThroughputExceeded (provisioned tables).
  //
  // Such a cancellation wrote nothing, so the store retries it and, if it persists, answers 503
  // throttled with Retry-After like any other throttle.
  const cancelled = (code: string) =>
    new TransactionCanceledException({
      ...meta,
      message: `Transaction cancelled, please refer cancellation reasons for specific reasons [None, ${code}]`,
      CancellationReasons: [
        { Code: 'None' },
        { Code: code, Message: 'Throughput exceeds the current capacity of your table or index.' },
      ],
    });

  test.each([
    ['admission', 'the claim', 'ThrottlingError', () => healthyTable({ batch: true })],
    ['admission', 'the claim', 'ProvisionedThroughputExceeded', () => healthyTable({ batch: true })],
    ['complete', 'the completion', 'ThrottlingError', () => healthyTable({ session: true })],
    ['admin put', 'the create', 'ThrottlingError', () => healthyTable({ event: false })],
  ] as const)('%s (%s) cancelled with %s -> 503 throttled', async (name, _, code, arrange) => {
    arrange();
    const error = cancelled(code);
    ddb.on(TransactWriteCommand).rejects(error);
    const answer = await invoke(routeNamed(name));
    expectThrottled(answer, error);
  });

  test.each([
    ['admission', 'the claim', 'ThrottlingError', () => healthyTable({ batch: true })],
    ['complete', 'the completion', 'ThrottlingError', () => healthyTable({ session: true })],
    ['admin put', 'the create', 'ThrottlingError', () => healthyTable({ event: false })],
  ] as const)('%s (%s) cancelled with %s: at least no AWS text leaks', async (name, _, code, arrange) => {
    arrange();
    const error = cancelled(code);
    ddb.on(TransactWriteCommand).rejects(error);
    const answer = await invoke(routeNamed(name));
    expect(answer.status).toBeGreaterThanOrEqual(500);
    expectNoLeak(answer, error);
  });
});

describe('DynamoDB itself failing (InternalServerError)', () => {
  test.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s -> 503 with Retry-After, no AWS text',
    async (_name, route) => {
      const error = new InternalServerError({
        ...meta,
        message: 'Internal server error (Service: DynamoDb, Status Code: 500)',
      });
      ddb.onAnyCommand().rejects(error);
      const answer = await invoke(route);
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(answer.body).toStrictEqual({
        error: { code: expect.stringMatching(/^(throttled|unavailable)$/), message: expect.any(String) },
      });
      expectNoLeak(answer, error);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Unexpected errors
// ---------------------------------------------------------------------------------------------

describe.each(UNEXPECTED)('DynamoDB throws %s', (_, makeError) => {
  test.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s -> 500 internal_error without the detail',
    async (_name, route) => {
      const error = makeError();
      ddb.onAnyCommand().rejects(error);
      const answer = await invoke(route);
      expectInternal(answer, error);
    },
  );

  test('part-way through (join: the position counter update) -> 500 internal_error', async () => {
    healthyTable();
    const error = makeError();
    ddb.on(UpdateCommand).rejects(error);
    const answer = await invoke(routeNamed('join (anonymous)'));
    expectInternal(answer, error);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { TableName: TABLE });
  });
});
