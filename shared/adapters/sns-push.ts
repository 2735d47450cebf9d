/**
 * Mobile push through SNS platform endpoints (FCM and APNs applications
 * configured on the stack). Registration creates or reuses the endpoint of a
 * device token; milestones are published in the platforms' own payload shapes.
 */
import {
  CreatePlatformEndpointCommand,
  EndpointDisabledException,
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SetEndpointAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import { type Platform, type PushContent, snsMessage } from '#domain/push';
import type { PushGateway } from '#ports/push';

/** SNS answers a token registered with other attributes with this message, naming the existing endpoint. */
const EXISTING_ENDPOINT = /Endpoint (arn:aws[\w-]*:sns:\S+) already exists/;

export class SnsPushGateway implements PushGateway {
  constructor(
    private readonly client: SNSClient,
    private readonly applications: { readonly fcm: string | null; readonly apns: string | null },
  ) {}

  supports(platform: Platform): boolean {
    return Boolean(this.applications[platform]);
  }

  async registerDevice(platform: Platform, deviceToken: string): Promise<string> {
    const application = this.applications[platform];
    if (!application) throw new Error(`no SNS platform application for ${platform}`);
    try {
      // Idempotent in SNS: the same token on the same application returns the same endpoint.
      const out = await this.client.send(
        new CreatePlatformEndpointCommand({ PlatformApplicationArn: application, Token: deviceToken }),
      );
      if (!out.EndpointArn) throw new Error('SNS returned no endpoint ARN');
      return out.EndpointArn;
    } catch (error) {
      const existing =
        error instanceof InvalidParameterException ? error.message.match(EXISTING_ENDPOINT)?.[1] : undefined;
      if (!existing) throw error;
      // The endpoint exists with other attributes (e.g. disabled after an uninstall): re-enable it.
      await this.client.send(
        new SetEndpointAttributesCommand({
          EndpointArn: existing,
          Attributes: { Enabled: 'true', Token: deviceToken },
        }),
      );
      return existing;
    }
  }

  async send(endpoint: string, _platform: Platform, _deviceToken: string, content: PushContent) {
    try {
      await this.client.send(
        new PublishCommand({ TargetArn: endpoint, MessageStructure: 'json', Message: snsMessage(content) }),
      );
      return 'sent' as const;
    } catch (error) {
      if (error instanceof EndpointDisabledException || error instanceof NotFoundException)
        return 'gone' as const;
      throw error;
    }
  }
}
