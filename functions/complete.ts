/** POST /v1/events/{eventId}/complete — access token in `Authorization: Bearer`; frees the slot at once. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, jsonBody, pathEventId } from '#http/http';
import { emptyBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  jsonBody(event, emptyBodySchema); // no fields are accepted; a malformed body is still a 400
  await runtime().room.complete(eventId, bearerToken(event));
  return json(204);
});
