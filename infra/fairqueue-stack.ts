import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FairqueueWaitingRoom, type FairqueueWaitingRoomProps } from './waiting-room.ts';

export interface FairqueueStackProps extends StackProps {
  readonly waitingRoom?: FairqueueWaitingRoomProps;
}

/** A thin deployable wrapper: the waiting room plus the outputs operators and clients need. */
export class FairqueueStack extends Stack {
  readonly waitingRoom: FairqueueWaitingRoom;

  constructor(scope: Construct, id: string, props: FairqueueStackProps = {}) {
    const { waitingRoom, ...stackProps } = props;
    super(scope, id, stackProps);

    this.waitingRoom = new FairqueueWaitingRoom(this, 'WaitingRoom', waitingRoom);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the fairqueue HTTP API',
      value: this.waitingRoom.apiUrl,
    });
    new CfnOutput(this, 'TableName', {
      description: 'DynamoDB table holding every queue item',
      value: this.waitingRoom.table.tableName,
    });
    new CfnOutput(this, 'KeySecretArn', {
      description: 'Secrets Manager secret holding the ES256 signing key ring',
      value: this.waitingRoom.signingKeys.secretArn,
    });
    new CfnOutput(this, 'JwksUrl', {
      description: 'Where ticketing backends fetch the keys that verify access tokens',
      value: this.waitingRoom.jwksUrl,
    });
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'WebSocket URL for live position updates (joiners also get it as wsUrl)',
      value: this.waitingRoom.webSocketUrl,
    });
  }
}
