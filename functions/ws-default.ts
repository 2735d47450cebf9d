/** WebSocket `$default`: client messages (a `ping` heartbeat is answered with `pong`). */
import { initRuntime, runtime } from '#app/runtime';
import { type WebSocketEvent, websocketAnswer } from '#http/websocket';

initRuntime();

export const handler = async (event: WebSocketEvent) =>
  websocketAnswer(() => runtime().connections.message(event.requestContext.connectionId, event.body));
