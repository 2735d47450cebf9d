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

export interface AccessClaims extends PositionClaims {
  /** Session id. */
  readonly sid: string;
}
