/**
 * GET /v1/events/{eventId}/access — access token in `Authorization: Bearer`; the online check
 * (decision 0014): 200 with the claims while the session runs, cacheable privately for a few seconds.
 */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, pathEventId } from '#http/http';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  const { maxAgeSeconds, ...claims } = await runtime().access.check(eventId, bearerToken(event));
  // `private`: only the backend's own cache may keep it (CloudFront passes it through uncached).
  return json(200, claims, { 'cache-control': `private, max-age=${maxAgeSeconds}` });
});
