/** GET /v1/events/{eventId} — public and cacheable for a second. */
import { initRuntime, runtime } from '#app/runtime';
import { httpHandler, json, pathEventId } from '#http/http';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  return json(200, await runtime().room.publicEvent(eventId), { 'cache-control': 'public, max-age=1' });
});
