/** The edge of the WebSocket routes: API Gateway's event shape and the handshake's answers. */
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { logger } from '#app/logger';
import { FairqueueError } from '#domain/errors';

/** `$connect` carries the query string and headers; the other routes do not. */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & {
  readonly queryStringParameters?: Record<string, string | undefined> | null;
};

export interface WebSocketResult {
  readonly statusCode: number;
  readonly body?: string;
}

/** Any non-2xx answer to `$connect` makes API Gateway refuse the handshake with that status. */
export async function websocketAnswer(work: () => Promise<void>): Promise<WebSocketResult> {
  try {
    await work();
    return { statusCode: 200 };
  } catch (error) {
    if (error instanceof FairqueueError) {
      logger.info('websocket request refused', { code: error.code, name: error.name });
      return {
        statusCode: error.status,
        body: JSON.stringify({ error: { code: error.code, message: error.message } }),
      };
    }
    logger.error('websocket route failed', { error: error as Error });
    return { statusCode: 500 };
  }
}
