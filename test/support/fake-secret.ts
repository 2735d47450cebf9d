/**
 * Secrets Manager for rotation tests: a mocked client over one secret's versions and
 * staging labels, so the four rotation steps run against state that behaves like the
 * service's (a rotation starts with a version id labelled AWSPENDING and no value yet).
 * The fake also stands in for the published public keys (the table's KEYRING item).
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { type KeyRotationDeps, ROTATION_STEPS, rotateKeyRingSecret } from '#adapters/secrets-key-store';
import { type KeyRing, type PublicKeyRing, publicJwk } from '#domain/keyring';
import { parseKeyRing } from '#lib/keys';
import type { PublicKeyPublisher, PublicKeyStore } from '#ports/public-key-store';

/** Reset it in `afterEach`. */
export const secretsManager = mockClient(SecretsManagerClient);
export const secretsClient = new SecretsManagerClient({ region: 'us-east-1' });
export const SECRET_ID = 'arn:secret';
/** The value the stack gives the secret at deploy. */
export const PLACEHOLDER = '{"keys":[]}';

const sm = secretsManager;
const notFound = () => new ResourceNotFoundException({ message: 'no such version', $metadata: {} });

/**
 * Secrets Manager's versions and staging labels for one secret, as far as rotation uses
 * them: a rotation starts with a version id labelled AWSPENDING and no value yet.
 */
export class FakeSecret implements PublicKeyPublisher, PublicKeyStore {
  /** The public half as the rotation published it (the table's KEYRING item on AWS). */
  published: PublicKeyRing | undefined;
  readonly versions = new Map<string, { value: string | undefined; stages: string[] }>();
  #rotations = 0;
  /** When set, reading AWSCURRENT fails with this. */
  currentReadFailure: Error | undefined;

  constructor(initial: string) {
    this.versions.set('v0', { value: initial, stages: ['AWSCURRENT'] });
    sm.on(DescribeSecretCommand).callsFake(() => ({
      VersionIdsToStages: Object.fromEntries([...this.versions].map(([id, v]) => [id, [...v.stages]])),
    }));
    sm.on(GetSecretValueCommand).callsFake((input) => {
      if (input.VersionStage === 'AWSCURRENT' && this.currentReadFailure) throw this.currentReadFailure;
      // Neither a version nor a stage asked for: the service answers AWSCURRENT.
      const stage = input.VersionStage ?? (input.VersionId === undefined ? 'AWSCURRENT' : undefined);
      const found = [...this.versions].find(
        ([id, v]) =>
          (input.VersionId === undefined || input.VersionId === id) &&
          (stage === undefined || v.stages.includes(stage)),
      );
      if (!found || found[1].value === undefined) throw notFound();
      return { VersionId: found[0], SecretString: found[1].value };
    });
    sm.on(PutSecretValueCommand).callsFake((input) => {
      const id = String(input.ClientRequestToken);
      const version = this.versions.get(id);
      if (version?.value !== undefined) {
        if (version.value === input.SecretString) return {};
        throw new ResourceExistsException({ message: 'version exists', $metadata: {} });
      }
      this.versions.set(id, { value: input.SecretString, stages: input.VersionStages ?? [] });
      return {};
    });
    sm.on(UpdateSecretVersionStageCommand).callsFake((input) => {
      const stage = String(input.VersionStage);
      const from = this.versions.get(String(input.RemoveFromVersionId));
      if (from) from.stages = from.stages.filter((s) => s !== stage);
      this.versions.get(String(input.MoveToVersionId))?.stages.push(stage);
      return {};
    });
  }

  /** What Secrets Manager does before it calls createSecret. */
  startRotation(): string {
    const token = `v${++this.#rotations}`;
    for (const version of this.versions.values())
      version.stages = version.stages.filter((s) => s !== 'AWSPENDING');
    this.versions.set(token, { value: undefined, stages: ['AWSPENDING'] });
    return token;
  }

  async publish(ring: PublicKeyRing): Promise<void> {
    this.published = ring;
  }

  async loadPublic(): Promise<PublicKeyRing> {
    if (!this.published) throw new Error('nothing published yet');
    return this.published;
  }

  /** The JWKS as the jwks function serves it now. */
  jwks() {
    return { keys: (this.published?.keys ?? []).map(publicJwk) };
  }

  current(): KeyRing {
    const value = [...this.versions.values()].find((v) => v.stages.includes('AWSCURRENT'))?.value;
    return parseKeyRing(value ?? '');
  }
}

/** One whole rotation, each step run once (or twice: Secrets Manager retries steps). */
export async function rotateSecret(
  secret: FakeSecret,
  deps: KeyRotationDeps,
  { twice = false } = {},
): Promise<KeyRing> {
  const token = secret.startRotation();
  for (const step of ROTATION_STEPS) {
    await rotateKeyRingSecret(deps, { secretId: SECRET_ID, token, step });
    if (twice) await rotateKeyRingSecret(deps, { secretId: SECRET_ID, token, step });
  }
  return secret.current();
}
