/** GET /v1/events/{eventId}/status — position token in `Authorization: Bearer`. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, pathEventId } from '#http/http';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  return json(200, await runtime().room.status(eventId, bearerToken(event)));
});
