/**
 * Talks to WebSocket connections through API Gateway's management API
 * (`POST` and `DELETE @connections/{id}`). Locally the gateway serves the same
 * endpoint, and this same client talks to it.
 */
import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionPoster } from '#ports/realtime';

function isGone(error: unknown): boolean {
  return error instanceof GoneException || (error as { name?: string }).name === 'GoneException';
}

export class ManagementApiPoster implements ConnectionPoster {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    try {
      await this.client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }),
      );
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }

  async close(connectionId: string): Promise<'closed' | 'gone'> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      return 'closed';
    } catch (error) {
      // Closing a connection that is already gone is what was wanted.
      if (isGone(error)) return 'gone';
      throw error;
    }
  }
}
