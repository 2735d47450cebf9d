/**
 * Operator routes (IAM on AWS; the local gateway checks the bearer admin token):
 * GET /v1/admin/events, PUT /v1/admin/events/{eventId}, POST …/pause|resume|close, GET …/stats.
 */
import { initRuntime, runtime } from '#app/runtime';
import { RouteNotFoundError } from '#domain/errors';
import { httpHandler, json, jsonBody, pathEventId } from '#http/http';
import { emptyBodySchema, eventConfigBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(async (event) => {
  const { room } = runtime();
  if (event.routeKey === 'GET /v1/admin/events') return json(200, { events: await room.listEvents() });
  const eventId = pathEventId(event);
  switch (event.routeKey) {
    case 'PUT /v1/admin/events/{eventId}':
      return json(200, await room.putEvent(eventId, jsonBody(event, eventConfigBodySchema)));
    case 'POST /v1/admin/events/{eventId}/pause':
      jsonBody(event, emptyBodySchema);
      return json(200, await room.changeState(eventId, 'pause'));
    case 'POST /v1/admin/events/{eventId}/resume':
      jsonBody(event, emptyBodySchema);
      return json(200, await room.changeState(eventId, 'resume'));
    case 'POST /v1/admin/events/{eventId}/close':
      jsonBody(event, emptyBodySchema);
      return json(200, await room.changeState(eventId, 'close'));
    case 'GET /v1/admin/events/{eventId}/stats':
      return json(200, await room.stats(eventId));
    default:
      throw new RouteNotFoundError(`No admin route ${event.routeKey}.`);
  }
});
