/** GET /.well-known/jwks.json — the published public keys: active, next (not signing yet) and retired. */
import { initRuntime, runtime } from '#app/runtime';
import { httpHandler, json } from '#http/http';

initRuntime();

export const handler = httpHandler(async () => {
  return json(200, await runtime().tokens.jwks(), { 'cache-control': 'public, max-age=300' });
});
