/** POST /v1/events/{eventId}/admission — exchanges an admitted position token for an access token. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, jsonBody, pathEventId } from '#http/http';
import { emptyBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  jsonBody(event, emptyBodySchema); // no fields are accepted; a malformed body is still a 400
  return json(200, await runtime().room.claim(eventId, bearerToken(event)));
});
