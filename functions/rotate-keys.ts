/** Secrets Manager rotation for the signing key ring (also run once at deploy to create the first key). */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type RotationStep, rotateKeyRingSecret } from '#adapters/secrets-key-store';
import { logger } from '#app/logger';

const client = new SecretsManagerClient({});

interface RotationEvent {
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly Step: RotationStep;
}

export const handler = async (event: RotationEvent) => {
  logger.info('rotation step', { step: event.Step, secretId: event.SecretId });
  await rotateKeyRingSecret(client, event.SecretId, event.ClientRequestToken, event.Step);
};
