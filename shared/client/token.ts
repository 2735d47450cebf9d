/**
 * Reading a position token's claims without verifying it: enough for a client to show the
 * fan's place (`pos`) when nothing else can be had (the server unreachable, a page reloaded
 * offline). Never trust it for anything else: the server verifies every token it is given.
 *
 * Written by hand (base64url and UTF-8), so it needs neither `atob` nor `Buffer` nor
 * `TextDecoder`: it runs in every browser, React Native and Node alike.
 */

import { parseJson } from './wire.ts';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SEXTET = new Map<string, number>([...BASE64URL].map((c, i) => [c, i]));

/**
 * Decodes base64url (unpadded, as in JWTs; trailing `=` is tolerated); null when the text is
 * not base64url.
 *
 * @example
 * base64UrlDecode('aGk'); // Uint8Array [104, 105]
 */
export function base64UrlDecode(text: string): Uint8Array | null {
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) return null;
  const bytes = new Uint8Array(Math.floor((body.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let out = 0;
  for (const char of body) {
    const sextet = SEXTET.get(char);
    if (sextet === undefined) return null;
    buffer = ((buffer << 6) | sextet) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[out++] = (buffer >> bits) & 0xff;
    }
  }
  return bytes;
}

/**
 * Decodes UTF-8; null for bytes that are not (overlong, truncated, surrogates, > U+10FFFF).
 *
 * @example
 * utf8Decode(new Uint8Array([0xe2, 0x82, 0xac])); // '€'
 * utf8Decode(new Uint8Array([0xc0, 0x80])); // null: an overlong NUL
 */
export function utf8Decode(bytes: Uint8Array): string | null {
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] ?? 0;
    let length: number;
    let code: number;
    let min: number;
    if (lead < 0x80) [length, code, min] = [1, lead, 0];
    else if (lead >= 0xc2 && lead < 0xe0) [length, code, min] = [2, lead & 0x1f, 0x80];
    else if (lead >= 0xe0 && lead < 0xf0) [length, code, min] = [3, lead & 0x0f, 0x800];
    else if (lead >= 0xf0 && lead < 0xf5) [length, code, min] = [4, lead & 0x07, 0x10000];
    else return null;
    if (i + length > bytes.length) return null;
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k] ?? 0;
      if ((next & 0xc0) !== 0x80) return null;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return null;
    text += String.fromCodePoint(code);
    i += length;
  }
  return text;
}

/**
 * What a client may read from its position token (unverified).
 *
 * @example
 * const claims: PositionClaims | null = readPositionToken(token);
 * if (claims?.exp != null && claims.exp * 1000 < Date.now()) forgetPlace(); // the server would refuse it
 */
export interface PositionClaims {
  /** The place's position. */
  readonly pos: number;
  /** The event (`aud`). */
  readonly eventId: string | null;
  /** Epoch seconds after which the server refuses the token. */
  readonly exp: number | null;
}

/**
 * Reads a position token's claims without verifying the signature; null when it is not a
 * JWT with a positive whole `pos`.
 *
 * @example
 * const place = readPositionToken(localStorage.getItem('token') ?? '');
 * if (place) show(`You are #${place.pos}`);
 */
export function readPositionToken(token: string): PositionClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const bytes = base64UrlDecode(parts[1] ?? '');
  const json = bytes && utf8Decode(bytes);
  if (!json) return null;
  const claims = parseJson(json);
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return null;
  const { pos, aud, exp } = claims as Record<string, unknown>;
  if (typeof pos !== 'number' || !Number.isSafeInteger(pos) || pos < 1) return null;
  return {
    pos,
    eventId: typeof aud === 'string' ? aud : null,
    exp: typeof exp === 'number' && Number.isFinite(exp) ? exp : null,
  };
}
