/**
 * A verify-only function on AWS (`FQ_KEYS=aws`, no FQ_KEY_SECRET_ID): it verifies tokens
 * and serves the JWKS from the table's KEYRING item, never calls Secrets Manager, refuses
 * to sign, and answers a missing, throttled or denied item with a retryable 503.
 */
import '../support/handler-env.ts';
import 'aws-sdk-client-mock-vitest/extend';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DynamoPublicKeyStore } from '#adapters/dynamo-public-keys';
import { DynamoTable } from '#adapters/dynamo-table';
import { FileKeyStore } from '#adapters/file-key-store';
import { readConfig, readRotationConfig } from '#app/config';
import { buildRuntime, type Runtime, setRuntime } from '#app/runtime';
import { type PublicKeyRing, publicRing, rotateRing } from '#domain/keyring';
import { handler as jwks } from '#functions/jwks';
import { generateSigningKey } from '#lib/keys';
import { SigningKeysUnavailableError, TokenService } from '#lib/token-service';
import { lambdaContext } from '#local/gateway';
import { apiEvent } from '../support/forge.ts';

const ddb = mockClient(DynamoDBDocumentClient);
const sm = mockClient(SecretsManagerClient);
const KEYRING = { pk: 'KEYRING', sk: 'PUBLIC' };

let verifier: Runtime;
let signer: TokenService;
let published: PublicKeyRing;

const nowSec = () => Math.floor(Date.now() / 1000);
const sign = async () =>
  (await signer.signPosition({ eventId: 'e', sub: 'u', pos: 4, nowSec: nowSec(), ttlSeconds: 600 })).token;

async function getJwks(): Promise<APIGatewayProxyStructuredResultV2> {
  return (await jwks(
    apiEvent('GET /.well-known/jwks.json'),
    lambdaContext('jwks'),
  )) as APIGatewayProxyStructuredResultV2;
}

beforeAll(async () => {
  // The signer's ring, as a signing function would hold it; the verifier sees only its public half.
  const keys = new FileKeyStore(mkdtempSync(join(tmpdir(), 'fq-public-keys-')));
  const ring = rotateRing(await keys.load(), await generateSigningKey(), nowSec());
  published = publicRing(ring);
  signer = new TokenService(
    { publicKeys: { loadPublic: async () => published }, signingKeys: { load: async () => ring } },
    { issuer: 'fairqueue', cacheSeconds: 300 },
  );
  verifier = buildRuntime(readConfig({ FQ_STORE: 'dynamodb', FQ_TABLE: 't', FQ_KEYS: 'aws' }));
  setRuntime(verifier);
});
afterEach(() => {
  ddb.reset();
  sm.reset();
  verifier.tokens.invalidate();
});
afterAll(() => {
  ddb.restore();
  sm.restore();
  setRuntime(undefined);
});

describe('a verify-only runtime', () => {
  test('has no private key store', () => {
    expect(verifier.config.keys).toEqual({ kind: 'aws', signingSecretId: null });
    expect(verifier.keyStore).toBeNull();
  });

  test('verifies with the published public keys and serves them as the JWKS, without Secrets Manager', async () => {
    ddb.on(GetCommand, { Key: KEYRING }).resolves({ Item: { ...KEYRING, ring: published, ringVersion: 1 } });
    await expect(verifier.tokens.verifyPosition(await sign(), 'e')).resolves.toMatchObject({ pos: 4 });
    const res = await getJwks();
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(String(res.body));
    expect(body.keys.map((k: { kid: string }) => k.kid)).toEqual(published.keys.map((k) => k.kid));
    expect(String(res.body)).not.toMatch(/"d"/);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { TableName: 't', Key: KEYRING });
    expect(sm.calls()).toHaveLength(0);
  });

  test('refuses to sign, with a clear error', async () => {
    await expect(
      verifier.tokens.signPosition({ eventId: 'e', sub: 'u', pos: 1, nowSec: nowSec(), ttlSeconds: 60 }),
    ).rejects.toBeInstanceOf(SigningKeysUnavailableError);
    expect(sm.calls()).toHaveLength(0);
  });

  test.each([
    ['not published yet', () => ddb.on(GetCommand, { Key: KEYRING }).resolves({}), 'unavailable'],
    [
      'throttled',
      () =>
        ddb
          .on(GetCommand, { Key: KEYRING })
          .rejects(new ThrottlingException({ message: 'slow down', $metadata: {} })),
      'throttled',
    ],
    [
      'denied',
      () =>
        ddb
          .on(GetCommand, { Key: KEYRING })
          .rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' })),
      'unavailable',
    ],
    [
      'not a ring (a private part in it)',
      () =>
        ddb.on(GetCommand, { Key: KEYRING }).resolves({
          Item: {
            ...KEYRING,
            ring: {
              ...published,
              keys: published.keys.map((k) => ({ ...k, publicJwk: { ...k.publicJwk, d: 'x' } })),
            },
          },
        }),
      'unavailable',
    ],
  ])('answers 503 when the public keys are %s', async (_, arrange, code) => {
    arrange();
    const res = await getJwks();
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after'] ?? res.headers?.['Retry-After']).toBeDefined();
    expect(JSON.parse(String(res.body))).toMatchObject({ error: { code } });
    expect(String(res.body)).not.toMatch(/authorized|slow down/);
  });
});

describe('DynamoDB public key store', () => {
  const store = new DynamoPublicKeyStore(new DynamoTable(new DynamoDBClient({ region: 'us-east-1' }), 't'));

  test('publishes the ring with a version that only moves forward', async () => {
    ddb.on(PutCommand).resolves({});
    await store.publish(published);
    const version = Math.max(...published.keys.map((k) => k.createdAt));
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 't',
      Item: expect.objectContaining({ ...KEYRING, ring: published, ringVersion: version }),
      ConditionExpression: 'attribute_not_exists(pk) OR ringVersion <= :version',
      ExpressionAttributeValues: { ':version': version },
    });
  });
});

describe('key configuration', () => {
  const table = { FQ_STORE: 'dynamodb', FQ_TABLE: 't' };

  test('signers name the secret; verifiers only say where the public keys are; locally a key folder', () => {
    expect(readConfig({ ...table, FQ_KEYS: 'aws', FQ_KEY_SECRET_ID: 'arn:s' }).keys).toEqual({
      kind: 'aws',
      signingSecretId: 'arn:s',
    });
    // A secret id alone still means AWS keys, as before FQ_KEYS existed.
    expect(readConfig({ ...table, FQ_KEY_SECRET_ID: 'arn:s' }).keys).toMatchObject({ kind: 'aws' });
    expect(readConfig({ ...table, FQ_KEYS: 'aws' }).keys).toEqual({ kind: 'aws', signingSecretId: null });
    expect(readConfig({ ...table, FQ_KEY_DIR: '/tmp/k' }).keys).toEqual({ kind: 'file', dir: '/tmp/k' });
  });

  test.each([
    [{ ...table, FQ_KEYS: 'ssm' }, /FQ_KEYS/],
    [{ ...table, FQ_KEYS: 'file', FQ_KEY_SECRET_ID: 'arn:s' }, /FQ_KEY_SECRET_ID/],
    [{ FQ_STORE: 'memory', FQ_KEYS: 'aws' }, /FQ_STORE=dynamodb/],
  ])('refuses %o', (env, message) => {
    expect(() => readConfig(env)).toThrow(message);
  });

  test('the rotation function needs the table and takes a retention, a day by default', () => {
    expect(readRotationConfig({ FQ_TABLE: 't' })).toEqual({
      tableName: 't',
      retiredKeyRetentionSeconds: 86400,
    });
    expect(readRotationConfig({ FQ_TABLE: 't', FQ_RETIRED_KEY_RETENTION_SECONDS: '7200' })).toMatchObject({
      retiredKeyRetentionSeconds: 7200,
    });
    expect(() => readRotationConfig({})).toThrow(/FQ_TABLE/);
    expect(() => readRotationConfig({ FQ_TABLE: 't', FQ_RETIRED_KEY_RETENTION_SECONDS: '-1' })).toThrow(
      /FQ_RETIRED_KEY_RETENTION_SECONDS/,
    );
  });
});
