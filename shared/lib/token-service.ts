/**
 * Signs and verifies fairqueue's tokens with the key ring. The ring is read from
 * the key store once and cached (`cacheSeconds`); a token whose `kid` is not in
 * the cache triggers at most one early refresh per `unknownKidRefreshSeconds`,
 * so a rotation is picked up without reading the store per request.
 */
import { createPrivateKey, type KeyObject, randomUUID, sign } from 'node:crypto';
import { type CryptoKey, importJWK, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError } from '#domain/errors';
import { activeKey, type KeyRing, publicJwk } from '#domain/keyring';
import { ACCESS_TYP, type AccessClaims, POSITION_TYP, type PositionClaims } from '#domain/tokens';
import type { KeyStore } from '#ports/key-store';

interface LoadedRing {
  readonly ring: KeyRing;
  readonly signingKid: string;
  readonly signingKey: KeyObject;
  readonly verifyKeys: ReadonlyMap<string, CryptoKey>;
  readonly loadedAtMs: number;
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

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

export class TokenService {
  readonly #store: KeyStore;
  readonly #options: Required<TokenServiceOptions>;
  #loaded: Promise<LoadedRing> | undefined;
  #lastUnknownKidRefreshMs = 0;

  constructor(store: KeyStore, options: TokenServiceOptions) {
    this.#store = store;
    this.#options = { unknownKidRefreshSeconds: 30, now: Date.now, ...options };
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  async #load(): Promise<LoadedRing> {
    const ring = await this.#store.load();
    const verifyKeys = new Map<string, CryptoKey>();
    for (const key of ring.keys) {
      const { d: _d, ...pub } = key.privateJwk;
      verifyKeys.set(key.kid, (await importJWK({ ...pub, alg: 'ES256' }, 'ES256')) as CryptoKey);
    }
    const signing = activeKey(ring);
    return {
      ring,
      signingKid: signing.kid,
      signingKey: createPrivateKey({ key: { ...signing.privateJwk }, format: 'jwk' }),
      verifyKeys,
      loadedAtMs: this.#options.now(),
    };
  }

  async #ring(): Promise<LoadedRing> {
    const current = this.#loaded;
    if (current) {
      const loaded = await current.catch(() => undefined);
      if (loaded && this.#options.now() - loaded.loadedAtMs < this.#options.cacheSeconds * 1000)
        return loaded;
    }
    const next = this.#load();
    this.#loaded = next;
    // A failed load is not cached: the next request tries again.
    next.catch(() => {
      if (this.#loaded === next) this.#loaded = undefined;
    });
    return next;
  }

  /** Drops the cache so the next use reads the key store (after a rotation). */
  invalidate(): void {
    this.#loaded = undefined;
  }

  async jwks(): Promise<Jwks> {
    const { ring } = await this.#ring();
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
    const { signingKid, signingKey } = await this.#ring();
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

  async #verify(token: string, typ: string, eventId: string): Promise<JWTPayload> {
    let ring = await this.#ring();
    const getKey = async (header: { kid?: string; alg?: string }) => {
      const kid = header.kid;
      if (!kid) throw new InvalidTokenError('no kid in header');
      let key = ring.verifyKeys.get(kid);
      const nowMs = this.#options.now();
      if (!key && nowMs - this.#lastUnknownKidRefreshMs > this.#options.unknownKidRefreshSeconds * 1000) {
        this.#lastUnknownKidRefreshMs = nowMs;
        this.invalidate();
        ring = await this.#ring();
        key = ring.verifyKeys.get(kid);
      }
      // The kid is attacker-chosen text: log a bounded prefix only.
      if (!key) throw new InvalidTokenError(`unknown kid ${kid.slice(0, 64)}`);
      return key;
    };
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ['ES256'],
        issuer: this.#options.issuer,
        audience: eventId,
        typ,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
        currentDate: new Date(this.#options.now()),
        clockTolerance: 0,
      });
      return payload;
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      const reason = error instanceof joseErrors.JOSEError ? error.code : 'malformed';
      throw new InvalidTokenError(reason, { cause: error });
    }
  }

  async verifyPosition(token: string, eventId: string): Promise<PositionClaims> {
    const payload = await this.#verify(token, POSITION_TYP, eventId);
    if (!isPositiveInt(payload.pos)) throw new InvalidTokenError('pos claim missing or invalid');
    return payload as unknown as PositionClaims;
  }

  async verifyAccess(token: string, eventId: string): Promise<AccessClaims> {
    const payload = await this.#verify(token, ACCESS_TYP, eventId);
    if (!isPositiveInt(payload.pos)) throw new InvalidTokenError('pos claim missing or invalid');
    if (typeof payload.sid !== 'string' || payload.sid === '')
      throw new InvalidTokenError('sid claim missing');
    return payload as unknown as AccessClaims;
  }
}
