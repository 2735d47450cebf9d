import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, test } from 'vitest';
import { FileKeyStore } from '#adapters/file-key-store';
import { InvalidTokenError } from '#domain/errors';
import { retireKey, rotateRing, type StoredKey } from '#domain/keyring';
import { generateSigningKey } from '#lib/keys';
import { TokenService } from '#lib/token-service';
import { createAccessVerifier } from '#lib/verifier';
import { TestClock } from '../support/clock.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'fq-keys-test-'));

describe('key ring', () => {
  const key = (kid: string): StoredKey => ({
    kid,
    createdAt: 0,
    privateJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' },
  });

  test('rotation puts the new key in front and keeps the previous one only', () => {
    const one = rotateRing(undefined, key('a'));
    const two = rotateRing(one, key('b'));
    const three = rotateRing(two, key('c'));
    expect(two).toEqual({ active: 'b', keys: [key('b'), key('a')] });
    expect(three.keys.map((k) => k.kid)).toEqual(['c', 'b']);
  });

  test('the signing key cannot be retired; a previous one can', () => {
    const ring = rotateRing(rotateRing(undefined, key('a')), key('b'));
    expect(retireKey(ring, 'b')).toBe(ring);
    expect(retireKey(ring, 'a').keys.map((k) => k.kid)).toEqual(['b']);
  });
});

describe('token service with rotation', () => {
  test('a new key signs, the previous still verifies until retired', async () => {
    const clock = new TestClock();
    const store = new FileKeyStore(tempDir());
    const tokens = new TokenService(store, { issuer: 'fairqueue', cacheSeconds: 300, now: clock.now });

    const before = await tokens.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 1,
      nowSec: clock.sec,
      ttlSeconds: 600,
    });
    const oldKid = decodeProtectedHeader(before.token).kid;

    await store.rotate();
    tokens.invalidate();
    const after = await tokens.signPosition({
      eventId: 'e',
      sub: 'u',
      pos: 1,
      nowSec: clock.sec,
      ttlSeconds: 600,
    });
    const newKid = decodeProtectedHeader(after.token).kid;
    expect(newKid).not.toBe(oldKid);

    const jwks = await tokens.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(k).not.toHaveProperty('d');
    }
    await expect(tokens.verifyPosition(before.token, 'e')).resolves.toMatchObject({ pos: 1 });
    await expect(tokens.verifyPosition(after.token, 'e')).resolves.toMatchObject({ pos: 1 });

    // A second rotation retires the first key: its tokens stop verifying.
    await store.rotate();
    tokens.invalidate();
    await expect(tokens.verifyPosition(before.token, 'e')).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(tokens.verifyPosition(after.token, 'e')).resolves.toMatchObject({ pos: 1 });
  });

  test('another container with a cached ring picks up a new kid without waiting for its cache', async () => {
    const clock = new TestClock();
    const dir = tempDir();
    const signer = new TokenService(new FileKeyStore(dir), {
      issuer: 'fairqueue',
      cacheSeconds: 300,
      now: clock.now,
    });
    const verifier = new TokenService(new FileKeyStore(dir), {
      issuer: 'fairqueue',
      cacheSeconds: 300,
      now: clock.now,
    });
    await verifier.jwks(); // caches the first ring

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
  });

  test('the key ring is read once, not per request', async () => {
    const store = new FileKeyStore(tempDir());
    let loads = 0;
    const counting = {
      load: () => {
        loads++;
        return store.load();
      },
    };
    const clock = new TestClock();
    const tokens = new TokenService(counting, { issuer: 'fairqueue', cacheSeconds: 300, now: clock.now });
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
    expect(loads).toBe(1);
    clock.advance(301);
    await tokens.jwks();
    expect(loads).toBe(2);
  });

  test('tokens carry the contract claims and headers; the offline verifier accepts access, refuses position', async () => {
    const clock = new TestClock(Date.now());
    const tokens = new TokenService(new FileKeyStore(tempDir()), {
      issuer: 'fairqueue',
      cacheSeconds: 300,
      now: clock.now,
    });
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
