/** POST /v1/events/{eventId}/devices — registers a device for push at this place's milestones. */
import { initRuntime, runtime } from '#app/runtime';
import { bearerToken, httpHandler, json, jsonBody, pathEventId } from '#http/http';
import { devicesBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(async (event) => {
  const eventId = pathEventId(event);
  const body = jsonBody(event, devicesBodySchema);
  const { created: _created, ...registration } = await runtime().push.register(
    eventId,
    bearerToken(event),
    body.platform,
    body.deviceToken,
  );
  return json(201, registration);
});
