import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { FairQueue, type FairQueueProps } from './waiting-room.ts';

/**
 * The ready stack's props: the construct's, plus where alarms go.
 *
 * @example
 * ```ts
 * new FairqueueStack(app, 'Fairqueue', {
 *   alarms: { email: 'oncall@example.com' },
 *   waitingRoom: { throttle: { rateLimit: 4000, burstLimit: 8000 } },
 * });
 * ```
 */
export interface FairqueueStackProps extends StackProps {
  readonly waitingRoom?: Omit<FairQueueProps, 'alarmTopic'>;
  /**
   * Where alarms go: an existing SNS topic (ARN), or a new topic this stack creates with an
   * email subscription (confirm the email AWS sends). @default - no alarm notifications
   */
  readonly alarms?: { readonly topicArn: string } | { readonly email: string };
  /**
   * Your host names for the CloudFront distribution, with the ARN of an ACM certificate in
   * us-east-1 covering them (an existing one: this stack does not validate certificates).
   * Point their DNS at the `DistributionDomainName` output. Needs CloudFront on.
   * @default - the distribution's own `*.cloudfront.net` name
   */
  readonly domain?: { readonly names: readonly string[]; readonly certificateArn: string };
}

/**
 * A thin deployable wrapper: the waiting room plus the outputs operators and clients need.
 * This repository's `cdk deploy` deploys exactly this.
 *
 * @example
 * ```ts
 * import { App } from 'aws-cdk-lib';
 * import { FairqueueStack } from 'fairqueue/cdk';
 *
 * new FairqueueStack(new App(), 'Fairqueue');
 * ```
 */
export class FairqueueStack extends Stack {
  readonly waitingRoom: FairQueue;

  constructor(scope: Construct, id: string, props: FairqueueStackProps = {}) {
    const { waitingRoom, alarms: _alarms, domain, ...stackProps } = props;
    super(scope, id, stackProps);
    if (domain && waitingRoom?.cloudFront === false) {
      throw new Error('a domain is served by the CloudFront distribution: it needs cloudFront on');
    }

    let alarmTopic: ITopic | undefined;
    if (props.alarms && 'topicArn' in props.alarms) {
      alarmTopic = Topic.fromTopicArn(this, 'AlarmTopic', props.alarms.topicArn);
    } else if (props.alarms) {
      const topic = new Topic(this, 'AlarmTopic', {
        displayName: 'fairqueue alarms',
        // Only over TLS; CloudWatch alarms publish to it (no secrets travel in an alarm).
        enforceSSL: true,
      });
      topic.addSubscription(new EmailSubscription(props.alarms.email));
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'Alarm notifications carry alarm names and states only. CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key for alarm names is not worth its cost.',
      });
      alarmTopic = topic;
    }

    this.waitingRoom = new FairQueue(this, 'WaitingRoom', {
      ...waitingRoom,
      ...(domain && {
        cloudFront: {
          ...(typeof waitingRoom?.cloudFront === 'object' && waitingRoom.cloudFront),
          domain: {
            names: domain.names,
            certificate: Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
          },
        },
      }),
      ...(alarmTopic && { alarmTopic }),
    });
    if (alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', {
        description: 'SNS topic the alarms notify: subscribe email, chat or paging to it',
        value: alarmTopic.topicArn,
      });
    }
    new CfnOutput(this, 'DashboardName', {
      description: 'CloudWatch dashboard of this deployment (queue, admissions, latency, alarms)',
      value: this.waitingRoom.observability.dashboard.dashboardName,
    });

    const { edge } = this.waitingRoom;
    new CfnOutput(this, 'ApiUrl', {
      description: edge
        ? 'Base URL of the fairqueue API for fans and backends: the CloudFront distribution'
        : 'Base URL of the fairqueue HTTP API',
      value: this.waitingRoom.apiUrl,
    });
    if (edge) {
      new CfnOutput(this, 'DirectApiUrl', {
        description:
          'The HTTP API without CloudFront: operators sign the /v1/admin routes (SigV4) for this host',
        value: this.waitingRoom.directApiUrl,
      });
      new CfnOutput(this, 'DistributionDomainName', {
        description: 'Where the DNS of your own host names points (CNAME or alias), when you set a domain',
        value: edge.distribution.distributionDomainName,
      });
      new CfnOutput(this, 'DistributionId', {
        description: 'CloudFront distribution in front of the HTTP API (its metrics, invalidations)',
        value: edge.distribution.distributionId,
      });
    }
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
