/**
 * AWS key store: the ring is the JSON value of a Secrets Manager secret, created
 * at deploy and rotated by functions/rotate-keys.ts. Read only when the token
 * service's cache expires, never per request.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { ServiceUnavailableError } from '#domain/errors';
import { type KeyRing, rotateRing } from '#domain/keyring';
import { generateSigningKey, isPlaceholderRing, parseKeyRing } from '#lib/keys';
import type { KeyStore } from '#ports/key-store';

export class SecretsManagerKeyStore implements KeyStore {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
  ) {}

  async load(): Promise<KeyRing> {
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
      if (!out.SecretString) throw new Error('signing key secret has no string value');
      return parseKeyRing(out.SecretString);
    } catch (error) {
      // Throttled, or the ring not created yet (first rotation still running after deploy):
      // a retryable 503, with the cause in the logs, never the AWS text to a client.
      throw new ServiceUnavailableError(
        'unavailable',
        'Signing keys are not available yet; retry shortly.',
        2,
        {
          cause: error,
        },
      );
    }
  }
}

/**
 * The ring that signs now, or undefined when there is none yet: the secret has no
 * current value, or still holds the deploy placeholder. Anything else that goes wrong
 * (throttled, denied, a value that is not a ring) throws: taking it for "no ring yet"
 * would stage a ring without the keys that signed every outstanding token.
 */
async function readCurrentRing(client: SecretsManagerClient, secretId: string): Promise<KeyRing | undefined> {
  let text: string | undefined;
  try {
    const out = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
    );
    text = out.SecretString;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
  if (text === undefined) throw new Error('the signing key secret has no string value');
  if (isPlaceholderRing(text)) return undefined;
  return parseKeyRing(text);
}

export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

/**
 * Secrets Manager's four-step rotation for the key ring. createSecret stages a
 * ring with a new signing key in front (AWSPENDING); finishSecret promotes it to
 * AWSCURRENT. Every step is safe to repeat: Secrets Manager retries steps.
 */
export async function rotateKeyRingSecret(
  client: SecretsManagerClient,
  secretId: string,
  token: string,
  step: RotationStep,
): Promise<void> {
  const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  const stages = described.VersionIdsToStages ?? {};
  if (!stages[token]) throw new Error(`version ${token} is not staged for rotation`);

  if (step === 'createSecret') {
    try {
      await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionId: token, VersionStage: 'AWSPENDING' }),
      );
      return; // Already created by an earlier attempt of this step.
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    const current = await readCurrentRing(client, secretId);
    const ring = rotateRing(current, await generateSigningKey());
    await client.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        SecretString: JSON.stringify(ring),
        VersionStages: ['AWSPENDING'],
      }),
    );
    return;
  }

  if (step === 'setSecret') return; // Nothing outside the secret holds the key.

  if (step === 'testSecret') {
    const out = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionId: token, VersionStage: 'AWSPENDING' }),
    );
    parseKeyRing(out.SecretString ?? '');
    return;
  }

  const currentVersion = Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
  if (currentVersion === token) return;
  await client.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: token,
      ...(currentVersion ? { RemoveFromVersionId: currentVersion } : {}),
    }),
  );
}
