/**
 * Key rotation against DynamoDB Local: the rotation publishes each ring's public half to
 * the table's KEYRING item; a verify-only runtime (no signing secret) reads only that item.
 * A backend that cached the JWKS before a rotation verifies tokens signed after it, and
 * an older ring can never replace a newer one.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { DynamoPublicKeyStore } from '#adapters/dynamo-public-keys';
import { DynamoTable } from '#adapters/dynamo-table';
import type { KeyRotationDeps } from '#adapters/secrets-key-store';
import { readConfig } from '#app/config';
import { buildRuntime, type Runtime } from '#app/runtime';
import { ServiceUnavailableError } from '#domain/errors';
import { KeyRingError, publicRing } from '#domain/keyring';
import { TestClock } from '../support/clock.ts';
import {
  createTable,
  dynamoClient,
  uniqueTableName,
  useDynamoDbLocalEnv,
} from '../support/dynamodb-local.ts';
import {
  FakeSecret,
  PLACEHOLDER,
  rotateSecret,
  SECRET_ID,
  secretsClient,
  secretsManager,
} from '../support/fake-secret.ts';

const endpoint = inject('ddbEndpoint');
const tableName = uniqueTableName('keys');
const table = new DynamoTable(dynamoClient(endpoint), tableName);
const ROTATION_INTERVAL = 30 * 24 * 3600;

beforeAll(async () => {
  // The runtimes build their own DynamoDB client from the environment, as on Lambda.
  useDynamoDbLocalEnv(endpoint);
  await createTable(endpoint, tableName);
});
afterEach(() => secretsManager.reset());

function runtimes(clock: TestClock): { signer: Runtime; verifier: Runtime } {
  const env = { FQ_STORE: 'dynamodb', FQ_TABLE: tableName, FQ_KEYS: 'aws' };
  return {
    signer: buildRuntime(readConfig({ ...env, FQ_KEY_SECRET_ID: SECRET_ID }), { now: clock.now }),
    verifier: buildRuntime(readConfig(env), { now: clock.now }),
  };
}

describe('public keys in DynamoDB', () => {
  test('nothing published yet is a retryable 503, not a crash', async () => {
    const empty = uniqueTableName('nokeys');
    await createTable(endpoint, empty);
    const store = new DynamoPublicKeyStore(new DynamoTable(dynamoClient(endpoint), empty));
    await expect(store.loadPublic()).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  test('rotations publish the public half; verifiers that cached it before a rotation verify tokens signed after it', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const deps: KeyRotationDeps = {
      secrets: secretsClient,
      publicKeys: new DynamoPublicKeyStore(table, clock.now),
      retiredKeyRetentionSeconds: 24 * 3600,
      now: clock.now,
    };
    await rotateSecret(secret, deps);
    const { signer, verifier } = runtimes(clock);
    expect(verifier.keyStore).toBeNull();

    const first = await signer.tokens.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 1,
      nowSec: clock.sec,
      ttlSeconds: 600,
    });
    await expect(verifier.tokens.verifyPosition(first.token, 'e')).resolves.toMatchObject({ pos: 1 });

    for (let i = 0; i < 3; i++) {
      // A ticketing backend's copy of the JWKS, taken before the rotation and never refreshed.
      const cached = createLocalJWKSet(await verifier.tokens.jwks());
      clock.advance(ROTATION_INTERVAL);
      const ring = await rotateSecret(secret, deps);
      signer.tokens.invalidate(); // a signer that reads the new ring at once
      const { token } = await signer.tokens.signPosition({
        eventId: 'e',
        sub: 'u',
        pos: 2,
        nowSec: clock.sec,
        ttlSeconds: 600,
      });
      expect(decodeProtectedHeader(token).kid).toBe(ring.active);
      await expect(jwtVerify(token, cached, { currentDate: new Date(clock.now()) })).resolves.toBeDefined();
      await expect(verifier.tokens.verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 2 });
    }

    const { Item } = await table.doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'KEYRING', sk: 'PUBLIC' } }),
    );
    expect(Item?.ring.active).toBe(secret.current().active);
    expect(JSON.stringify(Item)).not.toMatch(/"d"/);
  });

  test('publishing is safe to repeat, and an older ring never replaces a newer one', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const own = uniqueTableName('order');
    await createTable(endpoint, own);
    const ordered = new DynamoPublicKeyStore(new DynamoTable(dynamoClient(endpoint), own), clock.now);
    const deps: KeyRotationDeps = {
      secrets: secretsClient,
      publicKeys: { publish: async () => {} },
      retiredKeyRetentionSeconds: 3600,
      now: clock.now,
    };
    const older = await rotateSecret(secret, deps);
    clock.advance(60);
    const newer = await rotateSecret(secret, deps);

    await ordered.publish(publicRing(newer));
    await ordered.publish(publicRing(newer));
    await expect(ordered.publish(publicRing(older))).rejects.toBeInstanceOf(KeyRingError);
    await expect(ordered.loadPublic()).resolves.toEqual(publicRing(newer));
  });
});
