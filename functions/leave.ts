/** DELETE /v1/events/{eventId}/place — position token in `Authorization: Bearer`; the place becomes void for good. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, jsonBody, pathEventId } from '#http/http';
import { emptyBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  jsonBody(event, emptyBodySchema); // no fields are accepted; a malformed body is still a 400
  await runtime().room.leave(eventId, bearerToken(event));
  return json(204);
});
