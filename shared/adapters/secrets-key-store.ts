/**
 * AWS key store: the private ring is the JSON value of a Secrets Manager secret, created
 * at deploy and rotated by functions/rotate-keys.ts. Only signing functions may read it,
 * and only when the token service's cache expires, never per request.
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
import { checkSuccessor, type KeyRing, KeyRingError, newRing, publicRing, rotateRing } from '#domain/keyring';
import { checkKeyPair, generateSigningKey, isPlaceholderRing, parseKeyRing } from '#lib/keys';
import type { KeyStore } from '#ports/key-store';
import type { PublicKeyPublisher } from '#ports/public-key-store';

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
  if (text === undefined)
    throw new KeyRingError('invalid_ring', 'the signing key secret has no string value');
  if (isPlaceholderRing(text)) return undefined;
  return parseKeyRing(text);
}

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

export interface RotationRequest {
  readonly secretId: string;
  /** The ClientRequestToken: the id of the version being rotated in. */
  readonly token: string;
  readonly step: RotationStep;
}

export interface KeyRotationDeps {
  readonly secrets: SecretsManagerClient;
  /** Where verifiers read the public half of the ring (the table's KEYRING item on AWS). */
  readonly publicKeys: PublicKeyPublisher;
  /** How long a retired key keeps verifying (keyring.ts `rotateRing`). */
  readonly retiredKeyRetentionSeconds: number;
  readonly now?: () => number;
}

/**
 * Secrets Manager's four-step rotation for the key ring (keyring.ts has the rule).
 * createSecret stages the rotated ring as AWSPENDING; setSecret publishes its public
 * half for verifiers; testSecret checks it may replace the current one; finishSecret
 * makes it AWSCURRENT, and signers pick it up as their caches expire. Every step is safe to repeat:
 * Secrets Manager retries steps.
 */
export async function rotateKeyRingSecret(deps: KeyRotationDeps, request: RotationRequest): Promise<void> {
  const { secrets: client } = deps;
  const { secretId, token, step } = request;
  const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  const stages = described.VersionIdsToStages ?? {};
  const tokenStages = stages[token];
  if (!tokenStages) throw new Error(`version ${token} is not staged for rotation`);
  // A retried step of a rotation that has already finished has nothing left to do.
  if (tokenStages.includes('AWSCURRENT')) return;
  if (!tokenStages.includes('AWSPENDING')) throw new Error(`version ${token} is not pending rotation`);

  const pendingRing = async () => {
    const out = await client.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionId: token, VersionStage: 'AWSPENDING' }),
    );
    return parseKeyRing(out.SecretString ?? '');
  };

  if (step === 'createSecret') {
    try {
      await pendingRing();
      return; // Already created by an earlier attempt of this step.
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    const current = await readCurrentRing(client, secretId);
    const nowSec = Math.floor((deps.now ?? Date.now)() / 1000);
    const fresh = await generateSigningKey(nowSec);
    const ring = current
      ? rotateRing(current, fresh, nowSec, deps.retiredKeyRetentionSeconds)
      : newRing(fresh, await generateSigningKey(nowSec));
    // With this token: if two attempts race, the second put fails instead of staging another ring.
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

  if (step === 'setSecret') {
    // Published before finishSecret makes the ring current: its signing key is already in
    // every JWKS (it was next), the key that signs until then stays in as retired, and the
    // new next key appears a whole rotation before it signs.
    await deps.publicKeys.publish(publicRing(await pendingRing()));
    return;
  }

  if (step === 'testSecret') {
    const pending = await pendingRing();
    // The new signing key must have been published as next, and every key must work.
    checkSuccessor(await readCurrentRing(client, secretId), pending);
    for (const key of pending.keys) checkKeyPair(key);
    return;
  }

  const currentVersion = Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
  await client.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretId,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: token,
      ...(currentVersion ? { RemoveFromVersionId: currentVersion } : {}),
    }),
  );
}
