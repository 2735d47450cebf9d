/** POST /v1/events/{eventId}/join */
import { initRuntime, runtime } from '#app/runtime';
import { edgeSecretFrom } from '#http/edge';
import { clientIp, httpHandler, json, jsonBody, optionalBearerToken, pathEventId } from '#http/http';
import { joinBodySchema } from '#http/schemas';

initRuntime();
// Behind the stack's CloudFront distribution: proves a request came through it (decision 0011).
const edgeSecret = edgeSecretFrom(process.env);

export const handler = httpHandler(
  async (event) => {
    const eventId = pathEventId(event);
    const body = jsonBody(event, joinBodySchema);
    const { room, config } = runtime();
    const { created, ...result } = await room.join({
      eventId,
      userId: body.userId,
      identityToken: config.identity ? optionalBearerToken(event) : undefined,
      clientIp: clientIp(event, edgeSecret),
    });
    return json(created ? 201 : 200, result);
  },
  { latencyMetric: 'JoinLatency' },
);
