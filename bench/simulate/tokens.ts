/**
 * Token services for the simulation. A million ES256 signatures take minutes of CPU on two
 * cores, which would say nothing about the queue, so the big runs use a stand-in with the
 * same interface: claims in base64url JSON, no signature, and the same checks on typ,
 * audience, issuer and expiry (on the virtual clock). The CPU a real signature costs is in
 * the scenario's per-invocation CPU instead. `real` builds the service the functions use,
 * ES256 over a key in a temporary folder.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyStore } from '#adapters/file-key-store';
import { InvalidTokenError } from '#domain/errors';
import { ACCESS_TYP, type AccessClaims, POSITION_TYP, type PositionClaims } from '#domain/tokens';
import { TokenService } from '#lib/token-service';

const ISSUER = 'fairqueue';

/** Three parts like a JWS, so `decodeJwt` (the WebSocket `$connect` reads the audience with it) reads the claims. */
const encode = (claims: Record<string, unknown>) =>
  `sim.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.unsigned`;

function decode(token: string): Record<string, unknown> {
  const [head, payload, tail] = token.split('.');
  if (head !== 'sim' || payload === undefined || tail !== 'unsigned')
    throw new InvalidTokenError('not a simulator token');
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (typeof claims !== 'object' || claims === null) throw new Error('not an object');
    return claims as Record<string, unknown>;
  } catch (error) {
    throw new InvalidTokenError('malformed', { cause: error });
  }
}

/** The stand-in: TokenService's signing and verifying, without the cryptography. */
export class FastTokenService extends TokenService {
  readonly #now: () => number;

  constructor(now: () => number) {
    // Never read: every method that would use the key stores is overridden.
    const unused = () => Promise.reject(new Error('the simulator token service has no keys'));
    super(
      { publicKeys: { loadPublic: unused }, signingKeys: { load: unused } },
      { issuer: ISSUER, cacheSeconds: 300, now },
    );
    this.#now = now;
  }

  override async signPosition(args: Parameters<TokenService['signPosition']>[0]) {
    const exp = args.nowSec + args.ttlSeconds;
    const token = encode({
      typ: POSITION_TYP,
      iss: ISSUER,
      aud: args.eventId,
      sub: args.sub,
      pos: args.pos,
      iat: args.nowSec,
      exp,
      jti: randomUUID(),
    });
    return { token, exp };
  }

  override async signAccess(args: Parameters<TokenService['signAccess']>[0]) {
    return encode({
      typ: ACCESS_TYP,
      iss: ISSUER,
      aud: args.eventId,
      sub: args.sub,
      pos: args.pos,
      sid: args.sid,
      iat: args.nowSec,
      exp: args.exp,
      jti: randomUUID(),
    });
  }

  #check(token: string, typ: string, eventId: string): Record<string, unknown> {
    const claims = decode(token);
    if (claims.typ !== typ) throw new InvalidTokenError('wrong typ');
    if (claims.iss !== ISSUER || claims.aud !== eventId)
      throw new InvalidTokenError('wrong issuer or audience');
    if (typeof claims.exp !== 'number' || claims.exp <= Math.floor(this.#now() / 1000))
      throw new InvalidTokenError('expired');
    if (typeof claims.pos !== 'number' || !Number.isSafeInteger(claims.pos) || claims.pos < 1)
      throw new InvalidTokenError('pos claim missing or invalid');
    return claims;
  }

  override async verifyPosition(token: string, eventId: string): Promise<PositionClaims> {
    const { typ: _typ, ...claims } = this.#check(token, POSITION_TYP, eventId);
    return claims as unknown as PositionClaims;
  }

  override async verifyAccess(token: string, eventId: string): Promise<AccessClaims> {
    const { typ: _typ, ...claims } = this.#check(token, ACCESS_TYP, eventId);
    if (typeof claims.sid !== 'string' || claims.sid === '') throw new InvalidTokenError('sid claim missing');
    return claims as unknown as AccessClaims;
  }
}

/** The real service, ES256 with a key generated into a temporary folder, on the virtual clock. */
export function realTokenService(now: () => number): TokenService {
  const keys = new FileKeyStore(mkdtempSync(join(tmpdir(), 'fq-sim-keys-')), { now });
  return new TokenService(
    { publicKeys: keys, signingKeys: keys },
    { issuer: ISSUER, cacheSeconds: 300, now },
  );
}
