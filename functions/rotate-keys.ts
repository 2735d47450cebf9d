/** Secrets Manager rotation for the signing key ring (also run once at deploy to create the first ring). */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ROTATION_STEPS, rotateKeyRingSecret } from '#adapters/secrets-key-store';
import { readRotationConfig } from '#app/config';
import { logger } from '#app/logger';

const config = readRotationConfig();
const secrets = new SecretsManagerClient({});

/** What Secrets Manager sends for each rotation step. */
const rotationEventSchema = z.object({
  SecretId: z.string().min(1),
  ClientRequestToken: z.string().min(1),
  Step: z.enum(ROTATION_STEPS),
});

export const handler = async (input: unknown) => {
  const event = rotationEventSchema.parse(input);
  logger.info('rotation step', { step: event.Step, secretId: event.SecretId });
  await rotateKeyRingSecret(
    { secrets, retiredKeyRetentionSeconds: config.retiredKeyRetentionSeconds },
    { secretId: event.SecretId, token: event.ClientRequestToken, step: event.Step },
  );
};
