/**
 * Secrets Manager rotation for the signing key ring (also run once at deploy to create the
 * first ring); it also publishes each new ring's public half to the table for verifiers.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { DynamoPublicKeyStore } from '#adapters/dynamo-public-keys';
import { DynamoTable } from '#adapters/dynamo-table';
import { ROTATION_STEPS, rotateKeyRingSecret } from '#adapters/secrets-key-store';
import { readRotationConfig } from '#app/config';
import { logger } from '#app/logger';

const config = readRotationConfig();
const deps = {
  secrets: new SecretsManagerClient({}),
  publicKeys: new DynamoPublicKeyStore(new DynamoTable(new DynamoDBClient({}), config.tableName)),
  retiredKeyRetentionSeconds: config.retiredKeyRetentionSeconds,
};

/** What Secrets Manager sends for each rotation step. */
const rotationEventSchema = z.object({
  SecretId: z.string().min(1),
  ClientRequestToken: z.string().min(1),
  Step: z.enum(ROTATION_STEPS),
});

export const handler = async (input: unknown) => {
  const event = rotationEventSchema.parse(input);
  logger.info('rotation step', { step: event.Step, secretId: event.SecretId });
  await rotateKeyRingSecret(deps, {
    secretId: event.SecretId,
    token: event.ClientRequestToken,
    step: event.Step,
  });
};
