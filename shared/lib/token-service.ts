/**
 * Signs and verifies fairqueue's tokens. Verification and the JWKS use only the public
 * half of the key ring; signing uses the private ring, which only signing functions
 * have (a verify-only function refuses to sign). Each half is read from its store once
 * and cached (`cacheSeconds`); a token whose `kid` is not in the cache triggers at most
 * one early refresh per `unknownKidRefreshSeconds`, so a rotation is picked up without
 * reading a store per request.
 */
import { createPrivateKey, type KeyObject, randomUUID, sign } from 'node:crypto';
import { type CryptoKey, importJWK, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError } from '#domain/errors';
import { activeKey, type PublicKeyRing, publicJwk } from '#domain/keyring';
import { ACCESS_TYP, type AccessClaims, POSITION_TYP, type PositionClaims } from '#domain/tokens';
import type { KeyStore } from '#ports/key-store';
import type { PublicKeyStore } from '#ports/public-key-store';

export interface TokenKeys {
  /** The public half of the ring: every verification and the JWKS. */
  readonly publicKeys: PublicKeyStore;
  /** The private ring; null in a function that only verifies, which then refuses to sign. */
  readonly signingKeys: KeyStore | null;
}

interface SigningKey {
  readonly kid: string;
  readonly key: KeyObject;
}

interface VerifyKeys {
  readonly ring: PublicKeyRing;
  readonly byKid: ReadonlyMap<string, CryptoKey>;
}

export interface TokenServiceOptions {
  readonly issuer: string;
  readonly cacheSeconds: number;
  readonly unknownKidRefreshSeconds?: number;
  readonly now?: () => number;
}

export interface Jwks {
  readonly keys: ReturnType<typeof publicJwk>[];
}

/** Asked to sign where no private key ring is configured: a wiring mistake, never a client's. */
export class SigningKeysUnavailableError extends Error {
  override readonly name = 'SigningKeysUnavailableError';
  readonly code = 'signing_keys_unavailable';
  constructor() {
    super(
      'this function only verifies tokens: it has no signing key store (FQ_KEY_SECRET_ID), so it cannot sign',
    );
  }
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/** One value read from a store and kept for a while; a failed read is not kept, so the next use retries. */
class Cached<T> {
  #current: Promise<{ readonly value: T; readonly loadedAtMs: number }> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number,
  ) {}

  async get(): Promise<T> {
    const current = this.#current;
    if (current) {
      const loaded = await current.catch(() => undefined);
      if (loaded && this.now() - loaded.loadedAtMs < this.maxAgeMs) return loaded.value;
    }
    const next = this.read().then((value) => ({ value, loadedAtMs: this.now() }));
    this.#current = next;
    next.catch(() => {
      if (this.#current === next) this.#current = undefined;
    });
    return (await next).value;
  }

  invalidate(): void {
    this.#current = undefined;
  }
}

export class TokenService {
  readonly #options: Required<TokenServiceOptions>;
  readonly #verifyKeys: Cached<VerifyKeys>;
  readonly #signingKey: Cached<SigningKey> | null;
  #lastUnknownKidRefreshMs = 0;

  constructor(keys: TokenKeys, options: TokenServiceOptions) {
    this.#options = { unknownKidRefreshSeconds: 30, now: Date.now, ...options };
    const maxAgeMs = this.#options.cacheSeconds * 1000;
    this.#verifyKeys = new Cached(() => loadVerifyKeys(keys.publicKeys), maxAgeMs, this.#options.now);
    const signingKeys = keys.signingKeys;
    this.#signingKey = signingKeys
      ? new Cached(() => loadSigningKey(signingKeys), maxAgeMs, this.#options.now)
      : null;
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  /** Drops the caches so the next use reads the key stores (after a rotation). */
  invalidate(): void {
    this.#verifyKeys.invalidate();
    this.#signingKey?.invalidate();
  }

  /** Every published key: the signing one, the next one (before it signs) and the retired ones. */
  async jwks(): Promise<Jwks> {
    const { ring } = await this.#verifyKeys.get();
    return { keys: ring.keys.map(publicJwk) };
  }

  async #sign(
    typ: string,
    claims: Record<string, unknown>,
    sub: string,
    aud: string,
    iat: number,
    exp: number,
  ) {
    if (!this.#signingKey) throw new SigningKeysUnavailableError();
    const { kid: signingKid, key: signingKey } = await this.#signingKey.get();
    // Signed with node:crypto directly: the join and status hot paths sign on every
    // request, and this costs about a third of going through WebCrypto and jose.
    // Verification stays with jose (pinned alg, typ, iss, aud, exp).
    const header = b64json({ alg: 'ES256', typ, kid: signingKid });
    const payload = b64json({ ...claims, iss: this.#options.issuer, aud, sub, iat, exp, jti: randomUUID() });
    const input = `${header}.${payload}`;
    const signature = sign('sha256', Buffer.from(input), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  async signPosition(args: {
    eventId: string;
    sub: string;
    pos: number;
    nowSec: number;
    ttlSeconds: number;
  }) {
    const exp = args.nowSec + args.ttlSeconds;
    const token = await this.#sign(POSITION_TYP, { pos: args.pos }, args.sub, args.eventId, args.nowSec, exp);
    return { token, exp };
  }

  async signAccess(args: {
    eventId: string;
    sub: string;
    pos: number;
    sid: string;
    nowSec: number;
    exp: number;
  }) {
    return this.#sign(
      ACCESS_TYP,
      { pos: args.pos, sid: args.sid },
      args.sub,
      args.eventId,
      args.nowSec,
      args.exp,
    );
  }

  /**
   * `acceptExpired`: a token whose only fault is its `exp` is returned (its `exp` in the
   * past) instead of refused. It is then verified again as of its own last valid second, so
   * everything else (signature, `alg`, `typ`, issuer, audience, required claims) is checked
   * by jose exactly as for a live token, whatever order jose checks claims in.
   */
  async #verify(
    token: string,
    typ: string,
    eventId: string,
    { acceptExpired = false }: { acceptExpired?: boolean } = {},
  ): Promise<JWTPayload> {
    let verifyKeys = await this.#verifyKeys.get();
    const getKey = async (header: { kid?: string; alg?: string }) => {
      const kid = header.kid;
      if (!kid) throw new InvalidTokenError('no kid in header');
      let key = verifyKeys.byKid.get(kid);
      const nowMs = this.#options.now();
      if (!key && nowMs - this.#lastUnknownKidRefreshMs > this.#options.unknownKidRefreshSeconds * 1000) {
        this.#lastUnknownKidRefreshMs = nowMs;
        this.#verifyKeys.invalidate();
        verifyKeys = await this.#verifyKeys.get();
        key = verifyKeys.byKid.get(kid);
      }
      // The kid is attacker-chosen text: log a bounded prefix only.
      if (!key) throw new InvalidTokenError(`unknown kid ${kid.slice(0, 64)}`);
      return key;
    };
    const verifyAt = async (date: Date) => {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['ES256'],
        issuer: this.#options.issuer,
        audience: eventId,
        typ,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
        currentDate: date,
        clockTolerance: 0,
      });
      return payload;
    };
    try {
      return await verifyAt(new Date(this.#options.now()));
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      if (acceptExpired && error instanceof joseErrors.JWTExpired && error.claim === 'exp') {
        const exp = error.payload.exp;
        if (typeof exp === 'number' && Number.isSafeInteger(exp)) {
          try {
            return await verifyAt(new Date((exp - 1) * 1000));
          } catch (again) {
            if (again instanceof InvalidTokenError) throw again;
            const reason = again instanceof joseErrors.JOSEError ? again.code : 'malformed';
            throw new InvalidTokenError(reason, { cause: again });
          }
        }
      }
      const reason = error instanceof joseErrors.JOSEError ? error.code : 'malformed';
      throw new InvalidTokenError(reason, { cause: error });
    }
  }

  async verifyPosition(token: string, eventId: string): Promise<PositionClaims> {
    const payload = await this.#verify(token, POSITION_TYP, eventId);
    if (!isPositiveInt(payload.pos)) throw new InvalidTokenError('pos claim missing or invalid');
    return payload as unknown as PositionClaims;
  }

  /**
   * `acceptExpired` (the online access check only): a genuine access token past its `exp` is
   * returned, so the check can say the session ended rather than that the token is bad.
   */
  async verifyAccess(
    token: string,
    eventId: string,
    options: { acceptExpired?: boolean } = {},
  ): Promise<AccessClaims> {
    const payload = await this.#verify(token, ACCESS_TYP, eventId, options);
    if (!isPositiveInt(payload.pos)) throw new InvalidTokenError('pos claim missing or invalid');
    if (typeof payload.sid !== 'string' || payload.sid === '')
      throw new InvalidTokenError('sid claim missing');
    return payload as unknown as AccessClaims;
  }
}

async function loadVerifyKeys(store: PublicKeyStore): Promise<VerifyKeys> {
  const ring = await store.loadPublic();
  const byKid = new Map<string, CryptoKey>();
  for (const key of ring.keys) {
    byKid.set(key.kid, (await importJWK({ ...key.publicJwk, alg: 'ES256' }, 'ES256')) as CryptoKey);
  }
  return { ring, byKid };
}

async function loadSigningKey(store: KeyStore): Promise<SigningKey> {
  const signing = activeKey(await store.load());
  return { kid: signing.kid, key: createPrivateKey({ key: { ...signing.privateJwk }, format: 'jwk' }) };
}
