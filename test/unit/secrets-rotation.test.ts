import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, test } from 'vitest';
import { rotateKeyRingSecret, SecretsManagerKeyStore } from '#adapters/secrets-key-store';
import { rotateRing } from '#domain/keyring';
import { generateSigningKey, parseKeyRing } from '#lib/keys';

const sm = mockClient(SecretsManagerClient);
const client = new SecretsManagerClient({ region: 'us-east-1' });
afterEach(() => sm.reset());

const notFound = () => new ResourceNotFoundException({ message: 'no pending', $metadata: {} });

describe('Secrets Manager key store', () => {
  test('loads and validates the ring', async () => {
    const ring = rotateRing(undefined, await generateSigningKey());
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(ring) });
    await expect(new SecretsManagerKeyStore(client, 'arn:secret').load()).resolves.toEqual(ring);
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"keys":[]}' });
    await expect(new SecretsManagerKeyStore(client, 'arn:secret').load()).rejects.toThrow();
  });
});

describe('rotation Lambda steps', () => {
  test('createSecret on the placeholder starts a ring; on a ring it keeps the previous key', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPENDING' }).rejects(notFound());
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: '{"keys":[]}' });
    sm.on(PutSecretValueCommand).resolves({});
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'createSecret');
    const first = sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(first).toMatchObject({ ClientRequestToken: 'v2', VersionStages: ['AWSPENDING'] });
    const ring1 = parseKeyRing(first?.SecretString ?? '');
    expect(ring1.keys).toHaveLength(1);

    sm.reset();
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v2: ['AWSCURRENT'], v3: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPENDING' }).rejects(notFound());
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({
      SecretString: JSON.stringify(ring1),
    });
    sm.on(PutSecretValueCommand).resolves({});
    await rotateKeyRingSecret(client, 'arn:secret', 'v3', 'createSecret');
    const ring2 = parseKeyRing(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input.SecretString ?? '');
    expect(ring2.keys.map((k) => k.kid)).toEqual([ring2.active, ring1.active]);
  });

  test.each([
    ['throttled', () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })],
    ['denied', () => Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' })],
    ['not a ring', () => undefined],
  ])('createSecret fails and writes nothing when the current ring cannot be read (%s)', async (_, error) => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPENDING' }).rejects(notFound());
    const failure = error();
    if (failure) sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).rejects(failure);
    else
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({
        SecretString: '{"active":"a"}',
      });
    sm.on(PutSecretValueCommand).resolves({});
    await expect(rotateKeyRingSecret(client, 'arn:secret', 'v2', 'createSecret')).rejects.toThrow();
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('createSecret starts a ring when the secret has no current value', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v2: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand).rejects(notFound());
    sm.on(PutSecretValueCommand).resolves({});
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'createSecret');
    const put = sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(parseKeyRing(put?.SecretString ?? '').keys.length).toBeGreaterThan(0);
  });

  test('createSecret is safe to repeat: an existing pending version is left alone', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{}' });
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'createSecret');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('testSecret validates the pending ring; finishSecret promotes it once', async () => {
    const ring = rotateRing(undefined, await generateSigningKey());
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] } });
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(ring) });
    sm.on(UpdateSecretVersionStageCommand).resolves({});
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'testSecret');
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'finishSecret');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)[0]?.args[0].input).toMatchObject({
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: 'v2',
      RemoveFromVersionId: 'v1',
    });

    sm.reset();
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v2: ['AWSCURRENT', 'AWSPENDING'] } });
    await rotateKeyRingSecret(client, 'arn:secret', 'v2', 'finishSecret');
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  test('a version that is not staged is refused', async () => {
    sm.on(DescribeSecretCommand).resolves({ VersionIdsToStages: { v1: ['AWSCURRENT'] } });
    await expect(rotateKeyRingSecret(client, 'arn:secret', 'nope', 'createSecret')).rejects.toThrow(
      'not staged',
    );
  });
});
