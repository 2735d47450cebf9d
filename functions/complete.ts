/** POST /v1/events/{eventId}/complete — access token in `Authorization: Bearer`; frees the slot at once. */
import { runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, pathEventId } from '#http/http';

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  await runtime().room.complete(eventId, bearerToken(event));
  return json(204);
});
