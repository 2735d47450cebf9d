/** POST /v1/events/{eventId}/join */
import { initRuntime, runtime } from '#app/runtime';
import { httpHandler, json, jsonBody, optionalBearerToken, pathEventId, sourceIp } from '#http/http';
import { joinBodySchema } from '#http/schemas';

initRuntime();

export const handler = httpHandler(
  async (event) => {
    const eventId = pathEventId(event);
    const body = jsonBody(event, joinBodySchema);
    const { room, config } = runtime();
    const { created, ...result } = await room.join({
      eventId,
      userId: body.userId,
      identityToken: config.identity ? optionalBearerToken(event) : undefined,
      clientIp: sourceIp(event),
    });
    return json(created ? 201 : 200, result);
  },
  { latencyMetric: 'JoinLatency' },
);
