import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type KeyRotationDeps,
  rotateKeyRingSecret,
  SecretsManagerKeyStore,
} from '#adapters/secrets-key-store';
import { type KeyRing, newRing, publicJwk } from '#domain/keyring';
import { generateSigningKey } from '#lib/keys';
import { TokenService } from '#lib/token-service';
import { TestClock } from '../support/clock.ts';
import {
  FakeSecret,
  PLACEHOLDER,
  rotateSecret,
  SECRET_ID,
  secretsClient,
  secretsManager,
} from '../support/fake-secret.ts';

const sm = secretsManager;
const client = secretsClient;
const SECRET = SECRET_ID;
afterEach(() => sm.reset());

const RETENTION = 3600;

const awsError = (name: string) => Object.assign(new Error(name), { name });

async function freshRing(clock: TestClock): Promise<KeyRing> {
  return newRing(await generateSigningKey(clock.sec), await generateSigningKey(clock.sec));
}

function deps(secret: FakeSecret, clock: TestClock): KeyRotationDeps {
  return { secrets: client, publicKeys: secret, retiredKeyRetentionSeconds: RETENTION, now: clock.now };
}

const rotate = (secret: FakeSecret, clock: TestClock, options?: { twice?: boolean }) =>
  rotateSecret(secret, deps(secret, clock), options);

/** A signer over whatever the secret holds now, as a signing Lambda would build it. */
function signerOf(secret: FakeSecret, clock: TestClock): TokenService {
  return new TokenService(
    { publicKeys: secret, signingKeys: { load: async () => secret.current() } },
    { issuer: 'fq', cacheSeconds: 0, now: clock.now },
  );
}

/** A verify-only function: it sees the published public half and nothing else. */
function verifierOf(secret: FakeSecret, clock: TestClock): TokenService {
  return new TokenService(
    { publicKeys: secret, signingKeys: null },
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
      rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token, step: 'createSecret' }),
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
      rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token, step: 'createSecret' }),
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
      const cached = createLocalJWKSet(secret.jwks());
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
    const verifier = () => verifierOf(secret, clock);

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
    // What the JWKS served before the upgrade: every key of the secret.
    const cached = createLocalJWKSet({ keys: legacy.keys.map(publicJwk) });

    const migrated = await rotate(secret, clock);
    expect(migrated.active).toBe(a.kid);
    expect(migrated.next).toBeDefined();
    expect(migrated.keys.find((k) => k.kid === p.kid)?.retiredAt).toBe(clock.sec);
    // Still signs with a kid every cached JWKS knows.
    const { token } = await sign(signerOf(secret, clock), clock);
    await expect(verifyWith(cached, token, clock)).resolves.toBeDefined();
    await expect(verifyWith(cached, legacyToken.token, clock)).resolves.toBeDefined();

    clock.advance(30 * 24 * 3600);
    // Verify-only functions, which see only the published half, accept both as well.
    await expect(verifierOf(secret, clock).verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 1 });
    await expect(verifierOf(secret, clock).verifyPosition(legacyToken.token, 'e')).resolves.toMatchObject({
      pos: 1,
    });

    clock.advance(30 * 24 * 3600);
    const next = await rotate(secret, clock);
    expect(next.active).toBe(migrated.next);
  });

  test('setSecret publishes the pending ring before finishSecret makes it current', async () => {
    const clock = new TestClock();
    const before = await freshRing(clock);
    const secret = new FakeSecret(JSON.stringify(before));
    const token = secret.startRotation();
    for (const step of ['createSecret', 'setSecret'] as const)
      await rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token, step });
    expect(secret.current()).toEqual(before); // signers still sign with the old active key
    const published = secret.published;
    expect(published?.active).toBe(before.next);
    // The key that signs until finishSecret stays in, as retired; the new next is in before it signs.
    expect(published?.keys.find((k) => k.kid === before.active)?.retiredAt).toBe(clock.sec);
    expect(published?.next).toBeDefined();
    expect(before.keys.map((k) => k.kid)).not.toContain(published?.next);
    expect(JSON.stringify(published)).not.toMatch(/"d"/);
  });

  test('a failed publication fails setSecret, so the ring is never made current unpublished', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    const token = secret.startRotation();
    const failing = {
      ...deps(secret, clock),
      publicKeys: { publish: () => Promise.reject(new Error('denied')) },
    };
    await rotateKeyRingSecret(failing, { secretId: SECRET, token, step: 'createSecret' });
    await expect(
      rotateKeyRingSecret(failing, { secretId: SECRET, token, step: 'setSecret' }),
    ).rejects.toThrow('denied');
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
    await rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token: 'v1', step: 'createSecret' });
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
      rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token, step: 'testSecret' }),
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
    await rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token: 'v1', step: 'finishSecret' });
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(1);
  });

  test('a version that is not staged for rotation is refused', async () => {
    const clock = new TestClock();
    const secret = new FakeSecret(PLACEHOLDER);
    await expect(
      rotateKeyRingSecret(deps(secret, clock), { secretId: SECRET, token: 'nope', step: 'createSecret' }),
    ).rejects.toThrow('not staged');
  });
});
