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
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type KeyRotationDeps,
  type RotationStep,
  rotateKeyRingSecret,
  SecretsManagerKeyStore,
} from '#adapters/secrets-key-store';
import { type KeyRing, newRing, publicJwk } from '#domain/keyring';
import { generateSigningKey, parseKeyRing } from '#lib/keys';
import { TokenService } from '#lib/token-service';
import { TestClock } from '../support/clock.ts';

const sm = mockClient(SecretsManagerClient);
const client = new SecretsManagerClient({ region: 'us-east-1' });
afterEach(() => sm.reset());

const SECRET = 'arn:secret';
const PLACEHOLDER = '{"keys":[]}';
const RETENTION = 3600;
const STEPS: readonly RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

const notFound = () => new ResourceNotFoundException({ message: 'no such version', $metadata: {} });
const awsError = (name: string) => Object.assign(new Error(name), { name });

async function freshRing(clock: TestClock): Promise<KeyRing> {
  return newRing(await generateSigningKey(clock.sec), await generateSigningKey(clock.sec));
}

/**
 * Secrets Manager's versions and staging labels for one secret, as far as rotation uses
 * them: a rotation starts with a version id labelled AWSPENDING and no value yet.
 */
class FakeSecret {
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
      const found = [...this.versions].find(
        ([id, v]) =>
          (input.VersionId === undefined || input.VersionId === id) &&
          (input.VersionStage === undefined || v.stages.includes(input.VersionStage)),
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

  current(): KeyRing {
    const value = [...this.versions.values()].find((v) => v.stages.includes('AWSCURRENT'))?.value;
    return parseKeyRing(value ?? '');
  }
}

function deps(clock: TestClock): KeyRotationDeps {
  return { secrets: client, retiredKeyRetentionSeconds: RETENTION, now: clock.now };
}

async function rotate(secret: FakeSecret, clock: TestClock, { twice = false } = {}): Promise<KeyRing> {
  const token = secret.startRotation();
  for (const step of STEPS) {
    await rotateKeyRingSecret(deps(clock), { secretId: SECRET, token, step });
    if (twice) await rotateKeyRingSecret(deps(clock), { secretId: SECRET, token, step });
  }
  return secret.current();
}

/** A signer over whatever the secret holds now, as a signing Lambda would build it. */
function signerOf(secret: FakeSecret, clock: TestClock): TokenService {
  return new TokenService(
    { load: async () => secret.current() },
    { issuer: 'fq', cacheSeconds: 0, now: clock.now },
  );
}

/** Long-lived, so that only its key decides whether it verifies. */
const sign = (tokens: TokenService, clock: TestClock) =>
  tokens.signPosition({ eventId: 'e', sub: 'u', pos: 1, nowSec: clock.sec, ttlSeconds: 400 * 24 * 3600 });
const verifyWith = (jwks: ReturnType<typeof createLocalJWKSet>, token: string, clock: TestClock) =>
  jwtVerify(token, jwks, { currentDate: new Date(clock.now()) });

describe('Secrets Manager key store', () => {
  test('loads and validates the ring; the placeholder is not a ring', async () => {
    const ring = await freshRing(new TestClock());
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(ring) });
    await expect(new SecretsManagerKeyStore(client, SECRET).load()).resolves.toEqual(ring);
    sm.on(GetSecretValueCommand).resolves({ SecretString: PLACEHOLDER });
    await expect(new SecretsManagerKeyStore(client, SECRET).load()).rejects.toThrow();
  });
});

describe('rotation Lambda: what starts a new ring', () => {
  test('the deploy placeholder starts a ring with an active and a next key', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const ring = await rotate(secret, clock);
    expect(ring.keys).toHaveLength(2);
    expect(ring.next).toBeDefined();
    expect(ring.next).not.toBe(ring.active);
  });

  test('a secret without a current value starts a ring', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    secret.versions.clear();
    const ring = await rotate(secret, clock);
    expect(ring.keys).toHaveLength(2);
  });

  // Regression: every failure to read AWSCURRENT used to be taken for "no ring yet", which
  // staged a new ring without the keys that signed every outstanding token.
  test.each([
    ['throttled', awsError('ThrottlingException')],
    ['denied', awsError('AccessDeniedException')],
    ['failing', awsError('InternalServiceError')],
  ])('a %s read of the current ring fails createSecret and writes nothing', async (_, failure) => {
    const clock = new TestClock();
    const secret = new FakeSecret(JSON.stringify(await freshRing(clock)));
    secret.currentReadFailure = failure;
    const token = secret.startRotation();
    await expect(
      rotateKeyRingSecret(deps(clock), { secretId: SECRET, token, step: 'createSecret' }),
    ).rejects.toBe(failure);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test.each([
    ['not JSON', 'not json'],
    ['not a ring', '{"active":"a"}'],
    [
      'a ring whose active key is missing',
      '{"active":"a","keys":[{"kid":"b","createdAt":1,"privateJwk":{}}]}',
    ],
    ['empty', ''],
  ])('a current value that is %s fails createSecret and writes nothing', async (_, value) => {
    const clock = new TestClock();
    const secret = new FakeSecret(value);
    const token = secret.startRotation();
    await expect(
      rotateKeyRingSecret(deps(clock), { secretId: SECRET, token, step: 'createSecret' }),
    ).rejects.toThrow();
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });
});

describe('rotation Lambda: the ring rule', () => {
  test('a rotation promotes next to signing, publishes a new next and keeps the previous key to verify', async () => {
    const clock = new TestClock();
    const before = await freshRing(clock);
    const secret = new FakeSecret(JSON.stringify(before));
    clock.advance(100);
    const after = await rotate(secret, clock);
    expect(after.active).toBe(before.next);
    expect(after.next).toBeDefined();
    expect(before.keys.map((k) => k.kid)).not.toContain(after.next);
    expect(after.keys.find((k) => k.kid === before.active)?.retiredAt).toBe(clock.sec);
  });

  test('a verifier that cached the JWKS before a rotation verifies tokens signed after it', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    await rotate(secret, clock);
    for (let i = 0; i < 5; i++) {
      // The JWKS a backend fetched (and cached) just before this rotation.
      const cached = createLocalJWKSet({ keys: secret.current().keys.map(publicJwk) });
      clock.advance(30 * 24 * 3600);
      await rotate(secret, clock);
      const { token } = await sign(signerOf(secret, clock), clock);
      expect(decodeProtectedHeader(token).kid).toBe(secret.current().active);
      await expect(verifyWith(cached, token, clock)).resolves.toBeDefined();
    }
  });

  test('retired keys verify for the retention, then are dropped at the next rotation', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const first = await rotate(secret, clock);
    const tokens = signerOf(secret, clock);
    const old = await sign(tokens, clock);
    const verifier = () =>
      new TokenService(
        { load: async () => secret.current() },
        { issuer: 'fq', cacheSeconds: 0, now: clock.now },
      );

    await rotate(secret, clock); // `first.active` is retired now
    clock.advance(RETENTION);
    const kept = await rotate(secret, clock);
    expect(kept.keys.map((k) => k.kid)).toContain(first.active);
    await expect(verifier().verifyPosition(old.token, 'e')).resolves.toMatchObject({ pos: 1 });

    clock.advance(1);
    const dropped = await rotate(secret, clock);
    expect(dropped.keys.map((k) => k.kid)).not.toContain(first.active);
    await expect(verifier().verifyPosition(old.token, 'e')).rejects.toMatchObject({
      reason: expect.stringMatching(/^unknown kid/),
    });
  });

  test('rotations in quick succession drop no key that signed within the retention', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const signers: string[] = [];
    for (let i = 0; i < 4; i++) {
      signers.push((await rotate(secret, clock)).active);
      clock.advance(60);
    }
    const kids = secret.current().keys.map((k) => k.kid);
    for (const kid of signers) expect(kids).toContain(kid);
  });

  test('a ring stored before next keys existed keeps its signing key on its first rotation', async () => {
    const clock = new TestClock();
    const [a, p] = [await generateSigningKey(clock.sec - 100), await generateSigningKey(clock.sec - 200)];
    // The old format: newest first, no next, no retiredAt.
    const legacy = { active: a.kid, keys: [a, p] };
    const secret = new FakeSecret(JSON.stringify(legacy));
    const legacyToken = await sign(signerOf(secret, clock), clock);
    const cached = createLocalJWKSet({ keys: secret.current().keys.map(publicJwk) });

    const migrated = await rotate(secret, clock);
    expect(migrated.active).toBe(a.kid);
    expect(migrated.next).toBeDefined();
    expect(migrated.keys.find((k) => k.kid === p.kid)?.retiredAt).toBe(clock.sec);
    // Still signs with a kid every cached JWKS knows.
    const { token } = await sign(signerOf(secret, clock), clock);
    await expect(verifyWith(cached, token, clock)).resolves.toBeDefined();
    await expect(verifyWith(cached, legacyToken.token, clock)).resolves.toBeDefined();

    clock.advance(30 * 24 * 3600);
    const next = await rotate(secret, clock);
    expect(next.active).toBe(migrated.next);
  });

  test('every step is safe to repeat', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(JSON.stringify(await freshRing(clock)));
    const before = secret.current();
    const after = await rotate(secret, clock, { twice: true });
    expect(after.active).toBe(before.next);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
    // A step retried after the rotation finished does nothing.
    await rotateKeyRingSecret(deps(clock), { secretId: SECRET, token: 'v1', step: 'createSecret' });
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
  });

  test('testSecret refuses a ring that would sign with a kid that was never published as next', async () => {
    const clock = new TestClock();
    const current = await freshRing(clock);
    const secret = new FakeSecret(JSON.stringify(current));
    const token = secret.startRotation();
    const unpublished = await generateSigningKey(clock.sec);
    // What the old rotation staged: a brand-new key signing at once.
    const staged = { active: unpublished.kid, next: current.next, keys: [unpublished, ...current.keys] };
    const pending = secret.versions.get(token);
    if (pending) pending.value = JSON.stringify(staged);
    await expect(
      rotateKeyRingSecret(deps(clock), { secretId: SECRET, token, step: 'testSecret' }),
    ).rejects.toMatchObject({ code: 'unsafe_rotation' });
  });

  test('finishSecret moves AWSCURRENT once', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    await rotate(secret, clock);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)[0]?.args[0].input).toMatchObject({
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: 'v1',
      RemoveFromVersionId: 'v0',
    });
    await rotateKeyRingSecret(deps(clock), { secretId: SECRET, token: 'v1', step: 'finishSecret' });
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  test('a version that is not staged for rotation is refused', async () => {
    const clock = new TestClock();
    new FakeSecret(PLACEHOLDER);
    await expect(
      rotateKeyRingSecret(deps(clock), { secretId: SECRET, token: 'nope', step: 'createSecret' }),
    ).rejects.toThrow('not staged');
  });
});
