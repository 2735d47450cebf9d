/** The local @connections endpoint's check of SigV4 signatures (local/sigv4.ts). */
import { SignatureV4 } from '@smithy/signature-v4';
import { expect, test } from 'vitest';
import { NodeSha256, newLocalCredentials, verifySigV4 } from '#local/sigv4';

const credentials = newLocalCredentials();
const PATH = '/@connections/abc%3D';
const BODY = Buffer.from('{"type":"position"}');

/** A request as the management client signs it, at `date`, with `keys`. */
async function signed(date: Date, keys = credentials, body = BODY) {
  const signer = new SignatureV4({
    credentials: keys,
    region: 'us-east-1',
    service: 'execute-api',
    sha256: NodeSha256,
  });
  const request = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 3000,
      path: PATH,
      query: {},
      headers: { host: '127.0.0.1:3000', 'content-type': 'application/json' },
      body,
    },
    { signingDate: date },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = String(value);
  return { method: 'POST', headers };
}

test('accepts a request signed with its credentials, now', async () => {
  const now = Date.now();
  expect(await verifySigV4(await signed(new Date(now)), PATH, BODY, credentials, now)).toBe(true);
});

test('refuses other keys, another body or path, an old or future date, and no signature', async () => {
  const now = Date.now();
  const fresh = await signed(new Date(now));
  expect(
    await verifySigV4(await signed(new Date(now), newLocalCredentials()), PATH, BODY, credentials, now),
  ).toBe(false);
  // Same key id, wrong secret.
  const guessed = { accessKeyId: credentials.accessKeyId, secretAccessKey: 'guess' };
  expect(await verifySigV4(await signed(new Date(now), guessed), PATH, BODY, credentials, now)).toBe(false);
  expect(await verifySigV4(fresh, PATH, Buffer.from('{"type":"closed"}'), credentials, now)).toBe(false);
  expect(await verifySigV4(fresh, '/@connections/other%3D', BODY, credentials, now)).toBe(false);
  // A captured request replayed ten minutes later, or signed for the future.
  expect(await verifySigV4(fresh, PATH, BODY, credentials, now + 10 * 60_000)).toBe(false);
  expect(await verifySigV4(fresh, PATH, BODY, credentials, now - 10 * 60_000)).toBe(false);
  expect(
    await verifySigV4({ method: 'POST', headers: { host: '127.0.0.1:3000' } }, PATH, BODY, credentials, now),
  ).toBe(false);
  const { authorization: _, ...unsignedHeaders } = fresh.headers;
  expect(
    await verifySigV4(
      { method: 'POST', headers: { ...unsignedHeaders, authorization: 'Bearer local-admin-token' } },
      PATH,
      BODY,
      credentials,
      now,
    ),
  ).toBe(false);
});

test('the query string is part of what is signed: a query added to a signed request fails', async () => {
  const now = Date.now();
  const fresh = await signed(new Date(now));
  const url = (search: string) => new URL(`http://127.0.0.1:3000${PATH}${search}`);
  expect(await verifySigV4(fresh, url(''), BODY, credentials, now)).toBe(true);
  expect(await verifySigV4(fresh, url('?x=1'), BODY, credentials, now)).toBe(false);
});
