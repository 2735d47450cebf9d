/** WebSocket `$disconnect`: forget the connection. */
import { initRuntime, runtime } from '#app/runtime';
import { type WebSocketEvent, websocketAnswer } from '#http/websocket';

initRuntime();

export const handler = async (event: WebSocketEvent) =>
  websocketAnswer(() => runtime().connections.disconnect(event.requestContext.connectionId));
