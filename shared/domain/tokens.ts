/** The two token kinds of the contract and their claims. */
export const POSITION_TYP = 'fq-position+jwt';
export const ACCESS_TYP = 'fq-access+jwt';

export interface PositionClaims {
  readonly iss: string;
  /** The event id. */
  readonly aud: string;
  /** Opaque user id. */
  readonly sub: string;
  readonly pos: number;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

/**
 * An access token's claims (what `fairqueue/verifier` resolves to and sets as `req.fairqueue`).
 *
 * @example
 * ```ts
 * const { sub, sid, pos, exp }: AccessClaims = await verify(token);
 * ```
 */
export interface AccessClaims extends PositionClaims {
  /** Session id. */
  readonly sid: string;
}
