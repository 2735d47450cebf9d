/** DELETE /v1/events/{eventId}/place — position token in `Authorization: Bearer`; the place becomes void for good. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, pathEventId } from '#http/http';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  await runtime().room.leave(eventId, bearerToken(event));
  return json(204);
});
