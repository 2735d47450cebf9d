/** WebSocket `$disconnect`: forget the connection. */
import { runtime } from '#app/runtime';
import { type WebSocketEvent, websocketAnswer } from '#http/websocket';

export const handler = async (event: WebSocketEvent) =>
  websocketAnswer(() => runtime().connections.disconnect(event.requestContext.connectionId));
