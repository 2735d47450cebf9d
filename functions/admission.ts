/** POST /v1/events/{eventId}/admission — exchanges an admitted position token for an access token. */
import { runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, pathEventId } from '#http/http';

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  return json(200, await runtime().room.claim(eventId, bearerToken(event)));
});
