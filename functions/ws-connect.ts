/** WebSocket `$connect`: `?token=<position token>`; a bad token is refused at the handshake. */
import { initRuntime, runtime } from '#app/runtime';
import { type WebSocketEvent, websocketAnswer } from '#http/websocket';

initRuntime();

export const handler = async (event: WebSocketEvent) =>
  websocketAnswer(() =>
    runtime().connections.connect(
      event.requestContext.connectionId,
      event.queryStringParameters?.token ?? undefined,
    ),
  );
