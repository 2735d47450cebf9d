/**
 * Who a place belongs to. A user id comes from the join body (dev mode) or from
 * the `sub` of the ticketing platform's identity token, and both pass the same
 * rule: it ends up in store keys, tokens and logs.
 */

/**
 * 1–128 printable ASCII characters, without spaces, control characters or `#`
 * (the store's key delimiter: a user id never reads as part of another key).
 */
export const USER_ID_PATTERN = /^[\x21\x22\x24-\x7e]{1,128}$/;

export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID_PATTERN.test(value);
}
