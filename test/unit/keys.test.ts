import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, test } from 'vitest';
import { FileKeyStore } from '#adapters/file-key-store';
import { InvalidTokenError } from '#domain/errors';
import {
  checkRing,
  checkSuccessor,
  type KeyRing,
  KeyRingError,
  newRing,
  publicRing,
  retireKey,
  rotateRing,
  type StoredKey,
} from '#domain/keyring';
import { generateSigningKey, isPlaceholderRing, parseKeyRing, parsePublicKeyRing } from '#lib/keys';
import { SigningKeysUnavailableError, TokenService } from '#lib/token-service';
import { createAccessVerifier } from '#verifier/verify';
import { TestClock } from '../support/clock.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'fq-keys-test-'));
/** Locally one key file serves both halves of the ring. */
const bothHalves = (store: FileKeyStore) => ({ publicKeys: store, signingKeys: store });
const options = (clock: TestClock) => ({ issuer: 'fairqueue', cacheSeconds: 300, now: clock.now });

const key = (kid: string, createdAt = 0): StoredKey => ({
  kid,
  createdAt,
  privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' },
});
const kids = (ring: KeyRing) => ring.keys.map((k) => k.kid);

describe('key ring', () => {
  test('a new ring signs with one key and publishes the next', () => {
    expect(newRing(key('a'), key('b'))).toEqual({ active: 'a', next: 'b', keys: [key('b'), key('a')] });
  });

  test('a rotation promotes next, adds a new next, and retires the previous key now', () => {
    const one = newRing(key('a'), key('b'));
    const two = rotateRing(one, key('c'), 100, 50);
    expect(two).toEqual({
      active: 'b',
      next: 'c',
      keys: [key('c'), key('b'), { ...key('a'), retiredAt: 100 }],
    });
    // Retired at 100, kept while retired no longer than 50 s, dropped after.
    expect(kids(rotateRing(two, key('d'), 150, 50))).toEqual(['d', 'c', 'b', 'a']);
    expect(kids(rotateRing(two, key('d'), 151, 50))).toEqual(['d', 'c', 'b']);
  });

  test('a ring stored without a next key keeps its signing key on its first rotation', () => {
    const legacy: KeyRing = { active: 'a', keys: [key('a'), key('p')] };
    expect(rotateRing(legacy, key('n'), 100, 50)).toEqual({
      active: 'a',
      next: 'n',
      keys: [key('n'), key('a'), { ...key('p'), retiredAt: 100 }],
    });
  });

  test('a new key with a kid already in the ring is refused', () => {
    expect(() => rotateRing(newRing(key('a'), key('b')), key('a'), 1)).toThrow(KeyRingError);
  });

  test('the signing and the next key cannot be retired; a verify-only one can', () => {
    const ring = rotateRing(newRing(key('a'), key('b')), key('c'), 1);
    expect(retireKey(ring, 'b')).toBe(ring);
    expect(retireKey(ring, 'c')).toBe(ring);
    expect(kids(retireKey(ring, 'a'))).toEqual(['c', 'b']);
  });

  test.each([
    ['a repeated kid', { active: 'a', keys: [key('a'), key('a')] }],
    ['no active key', { active: 'a', keys: [key('b')] }],
    ['no next key', { active: 'a', next: 'n', keys: [key('a')] }],
    ['one key as both', { active: 'a', next: 'a', keys: [key('a')] }],
    ['a retired signer', { active: 'a', keys: [{ ...key('a'), retiredAt: 1 }] }],
  ])('a ring with %s is refused', (_, ring) => {
    expect(() => checkRing(ring)).toThrow(KeyRingError);
  });

  test('a successor must sign with the published next key and keep the current signer', () => {
    const current = newRing(key('a'), key('b'));
    expect(() => checkSuccessor(current, rotateRing(current, key('c'), 1))).not.toThrow();
    expect(() => checkSuccessor(undefined, current)).not.toThrow();
    // The old rotation: a brand-new key signs at once.
    const unpublished = { active: 'c', next: 'b', keys: [key('c'), key('b'), key('a')] };
    expect(() => checkSuccessor(current, unpublished)).toThrow(/published/);
    const forgetful = { active: 'b', next: 'c', keys: [key('c'), key('b')] };
    expect(() => checkSuccessor(current, forgetful)).toThrow(/signs now/);
  });

  test('the public half keeps roles and ages and never a private part', () => {
    const ring = rotateRing(newRing(key('a'), key('b')), key('c'), 7);
    const pub = publicRing(ring);
    expect(pub).toMatchObject({ active: 'b', next: 'c' });
    expect(pub.keys.map((k) => [k.kid, k.retiredAt])).toEqual([
      ['c', undefined],
      ['b', undefined],
      ['a', 7],
    ]);
    expect(JSON.stringify(pub)).not.toContain('"d"');
    expect(parsePublicKeyRing(JSON.parse(JSON.stringify(pub)))).toEqual(pub);
    expect(() =>
      parsePublicKeyRing({ ...pub, keys: [{ ...pub.keys[0], publicJwk: key('x').privateJwk }] }),
    ).toThrow(KeyRingError);
  });

  test('old rings still parse; the deploy placeholder is told apart from a broken ring', async () => {
    const a = await generateSigningKey(1);
    expect(parseKeyRing(JSON.stringify({ active: a.kid, keys: [a] }))).toEqual({ active: a.kid, keys: [a] });
    expect(isPlaceholderRing('{"keys":[]}')).toBe(true);
    for (const value of ['', 'null', '{"keys":[1]}', '{"keys":[],"active":"a"}', '{"active":"a"}'])
      expect(isPlaceholderRing(value), value).toBe(false);
  });

  test('property: every signing key was published before it signs, and no key leaves the ring before its retention', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 0, max: 10 * 24 * 3600 }),
        fc.array(fc.integer({ min: 0, max: 3 * 24 * 3600 }), { minLength: 1, maxLength: 25 }),
        (legacy, retention, gaps) => {
          let nowSec = 1_000;
          let serial = 0;
          const fresh = () => key(`k${serial++}`, nowSec);
          let ring: KeyRing = legacy
            ? { active: 'old', keys: [key('old'), key('older')] }
            : newRing(fresh(), fresh());
          /** When each key stopped signing. */
          const stoppedSigning = new Map<string, number>();
          for (const gap of gaps) {
            nowSec += gap;
            const before = ring;
            ring = rotateRing(before, fresh(), nowSec, retention);
            checkSuccessor(before, ring);
            // Signs only with a kid that the ring before (and so every JWKS since) published.
            expect(kids(before)).toContain(ring.active);
            expect(ring.next).toBeDefined();
            expect(kids(before)).not.toContain(ring.next);
            if (before.active !== ring.active) stoppedSigning.set(before.active, nowSec);
            for (const [kid, at] of stoppedSigning) {
              const present = kids(ring).includes(kid);
              expect(present, `${kid} stopped signing at ${at}, now ${nowSec}`).toBe(
                nowSec - at <= retention,
              );
            }
            for (const k of ring.keys) {
              const retired = k.kid !== ring.active && k.kid !== ring.next;
              expect(k.retiredAt !== undefined, k.kid).toBe(retired);
            }
          }
        },
      ),
    );
  });
});

describe('token service with rotation', () => {
  test('the published next key signs after a rotation; the previous one verifies until its retention is over', async () => {
    const clock = new TestClock();
    const store = new FileKeyStore(tempDir(), { now: clock.now, retiredKeyRetentionSeconds: 3600 });
    const tokens = new TokenService(bothHalves(store), options(clock));
    // Long-lived tokens: only their keys decide whether they verify.
    const sign = () =>
      tokens.signPosition({ eventId: 'e', sub: 'u', pos: 1, nowSec: clock.sec, ttlSeconds: 30 * 24 * 3600 });

    const before = await sign();
    const oldKid = decodeProtectedHeader(before.token).kid;
    const published = (await tokens.jwks()).keys.map((k) => k.kid);
    expect(published).toHaveLength(2);
    expect(published).toContain(oldKid);

    await store.rotate();
    tokens.invalidate();
    const after = await sign();
    const newKid = decodeProtectedHeader(after.token).kid;
    expect(newKid).not.toBe(oldKid);
    expect(published).toContain(newKid);

    const jwks = await tokens.jwks();
    expect(jwks.keys.map((k) => k.kid).slice(1)).toEqual([newKid, oldKid]);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(k).not.toHaveProperty('d');
    }
    await expect(tokens.verifyPosition(before.token, 'e')).resolves.toMatchObject({ pos: 1 });
    await expect(tokens.verifyPosition(after.token, 'e')).resolves.toMatchObject({ pos: 1 });

    // Another rotation within the retention keeps the first key.
    await store.rotate();
    tokens.invalidate();
    await expect(tokens.verifyPosition(before.token, 'e')).resolves.toMatchObject({ pos: 1 });

    // Once it has been retired longer than the retention, the next rotation drops it.
    clock.advance(3601);
    await store.rotate();
    tokens.invalidate();
    await expect(tokens.verifyPosition(before.token, 'e')).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(tokens.verifyPosition((await sign()).token, 'e')).resolves.toMatchObject({ pos: 1 });
  });

  test('reset starts a brand-new ring with an active and a next key; no earlier token verifies', async () => {
    const clock = new TestClock();
    const store = new FileKeyStore(tempDir(), { now: clock.now });
    const tokens = new TokenService(bothHalves(store), options(clock));
    const { token } = await tokens.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 1,
      nowSec: clock.sec,
      ttlSeconds: 60,
    });
    const ring = await store.reset();
    expect(ring.next).toBeDefined();
    expect(ring.keys).toHaveLength(2);
    tokens.invalidate();
    await expect(tokens.verifyPosition(token, 'e')).rejects.toBeInstanceOf(InvalidTokenError);
  });

  test('another container with a cached ring already knows the kid that signs after a rotation', async () => {
    const clock = new TestClock();
    const dir = tempDir();
    const signer = new TokenService(bothHalves(new FileKeyStore(dir)), options(clock));
    const verifier = new TokenService(bothHalves(new FileKeyStore(dir)), options(clock));
    let loads = 0;
    const countingVerifier = new TokenService(
      {
        publicKeys: {
          loadPublic: () => {
            loads++;
            return new FileKeyStore(dir).loadPublic();
          },
        },
        signingKeys: null,
      },
      options(clock),
    );
    await verifier.jwks(); // caches the ring
    await countingVerifier.jwks();

    await new FileKeyStore(dir).rotate();
    signer.invalidate();
    const { token } = await signer.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 3,
      nowSec: clock.sec,
      ttlSeconds: 60,
    });
    await expect(verifier.verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 3 });
    await expect(countingVerifier.verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 3 });
    expect(loads).toBe(1); // from its cache: the kid was published before it signed
  });

  test('an unknown kid (a ring reset elsewhere) refreshes the cache early, at most once per interval', async () => {
    const clock = new TestClock();
    const dir = tempDir();
    const signer = new TokenService(bothHalves(new FileKeyStore(dir)), options(clock));
    const verifier = new TokenService(bothHalves(new FileKeyStore(dir)), options(clock));
    await verifier.jwks();
    await new FileKeyStore(dir).reset();
    signer.invalidate();
    const sign = async () =>
      (await signer.signPosition({ eventId: 'e', sub: 'u', pos: 3, nowSec: clock.sec, ttlSeconds: 600 }))
        .token;
    await expect(verifier.verifyPosition(await sign(), 'e')).resolves.toMatchObject({ pos: 3 });

    await new FileKeyStore(dir).reset();
    signer.invalidate();
    const token = await sign();
    // Refreshed a moment ago: this unknown kid waits for the next refresh window.
    await expect(verifier.verifyPosition(token, 'e')).rejects.toBeInstanceOf(InvalidTokenError);
    clock.advance(31);
    await expect(verifier.verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 3 });
  });

  test('a token service without signing keys verifies and publishes the JWKS but refuses to sign', async () => {
    const clock = new TestClock();
    const store = new FileKeyStore(tempDir());
    const signer = new TokenService(bothHalves(store), options(clock));
    const verifier = new TokenService({ publicKeys: store, signingKeys: null }, options(clock));
    const { token } = await signer.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 2,
      nowSec: clock.sec,
      ttlSeconds: 60,
    });
    await expect(verifier.verifyPosition(token, 'e')).resolves.toMatchObject({ pos: 2 });
    expect((await verifier.jwks()).keys).toHaveLength(2);
    await expect(
      verifier.signPosition({ eventId: 'e', sub: 'u', pos: 2, nowSec: clock.sec, ttlSeconds: 60 }),
    ).rejects.toBeInstanceOf(SigningKeysUnavailableError);
    await expect(
      verifier.signAccess({
        eventId: 'e',
        sub: 'u',
        pos: 2,
        sid: 's',
        nowSec: clock.sec,
        exp: clock.sec + 60,
      }),
    ).rejects.toThrow(/only verifies tokens/);
  });

  test('each half of the key ring is read once, not per request', async () => {
    const store = new FileKeyStore(tempDir());
    const loads = { private: 0, public: 0 };
    const counting = {
      signingKeys: {
        load: () => {
          loads.private++;
          return store.load();
        },
      },
      publicKeys: {
        loadPublic: () => {
          loads.public++;
          return store.loadPublic();
        },
      },
    };
    const clock = new TestClock();
    const tokens = new TokenService(counting, options(clock));
    for (let i = 0; i < 20; i++) {
      const { token } = await tokens.signPosition({
        eventId: 'e',
        sub: 'u',
        pos: 1,
        nowSec: clock.sec,
        ttlSeconds: 60,
      });
      await tokens.verifyPosition(token, 'e');
    }
    expect(loads).toEqual({ private: 1, public: 1 });
    clock.advance(301);
    await tokens.jwks();
    expect(loads).toEqual({ private: 1, public: 2 });
  });

  test('tokens carry the contract claims and headers; the offline verifier accepts access, refuses position', async () => {
    const clock = new TestClock(Date.now());
    const tokens = new TokenService(bothHalves(new FileKeyStore(tempDir())), options(clock));
    const position = await tokens.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 9,
      nowSec: clock.sec,
      ttlSeconds: 60,
    });
    const access = await tokens.signAccess({
      eventId: 'e',
      sub: 'u',
      pos: 9,
      sid: 's1',
      nowSec: clock.sec,
      exp: clock.sec + 60,
    });
    const jwks = createLocalJWKSet(await tokens.jwks());
    const { payload, protectedHeader } = await jwtVerify(access, jwks, { typ: 'fq-access+jwt' });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'fq-access+jwt' });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({ iss: 'fairqueue', aud: 'e', sub: 'u', pos: 9, sid: 's1' });
    expect(payload.jti).toBeTruthy();

    const verify = createAccessVerifier({ jwks: await tokens.jwks(), eventId: 'e' });
    await expect(verify(access)).resolves.toMatchObject({ sid: 's1', pos: 9 });
    await expect(verify(position.token)).rejects.toThrow('access token rejected');
    await expect(
      createAccessVerifier({ jwks: await tokens.jwks(), eventId: 'other' })(access),
    ).rejects.toThrow();
  });

  test('generated keys are unique P-256 keys', async () => {
    const [a, b] = await Promise.all([generateSigningKey(), generateSigningKey()]);
    expect(a.kid).not.toBe(b.kid);
    expect(a.privateJwk.crv).toBe('P-256');
  });
});
