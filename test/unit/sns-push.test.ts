/**
 * The SNS push gateway against a mocked SNS client: one platform endpoint per
 * device token (re-enabled when SNS says it exists with other attributes),
 * milestones published as `MessageStructure: json` in the shapes FCM (HTTP v1)
 * and APNs expect, disabled or deleted endpoints reported as `gone`.
 */
import 'aws-sdk-client-mock-vitest/extend';
import {
  CreatePlatformEndpointCommand,
  EndpointDisabledException,
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SetEndpointAttributesCommand,
  SNSClient,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, test } from 'vitest';
import { SnsPushGateway } from '#adapters/sns-push';
import { type Milestone, type PushContent, pushContent } from '#domain/push';

const sns = mockClient(SNSClient);
const client = new SNSClient({ region: 'eu-west-1' });
afterEach(() => sns.reset());

const FCM_APP = 'arn:aws:sns:eu-west-1:123456789012:app/GCM/fairqueue-fcm';
const APNS_APP = 'arn:aws:sns:eu-west-1:123456789012:app/APNS/fairqueue-apns';
const FCM_ENDPOINT =
  'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/fairqueue-fcm/0f1e2d3c-aaaa-bbbb-cccc-000000000001';
const APNS_ENDPOINT =
  'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/fairqueue-apns/0f1e2d3c-aaaa-bbbb-cccc-000000000002';
const APNS_TOKEN = 'a'.repeat(64);
const FCM_TOKEN = 'fcm-registration-token:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx';

const both = () => new SnsPushGateway(client, { fcm: FCM_APP, apns: APNS_APP });
const meta = { $metadata: {} };

function content(milestone: Milestone = 'admitted'): PushContent {
  return pushContent({ eventId: 'final-2026', position: 42, milestone, ahead: 7, secondsLeft: 30 });
}

/** The JSON message of the one Publish call, with its per-platform values parsed. */
function published() {
  const calls = sns.commandCalls(PublishCommand);
  expect(calls).toHaveLength(1);
  const input = calls[0]?.args[0].input;
  const message = JSON.parse(input?.Message ?? '{}') as Record<string, string>;
  return {
    input,
    message,
    gcm: JSON.parse(message.GCM ?? '{}'),
    apns: JSON.parse(message.APNS ?? '{}'),
    apnsSandbox: JSON.parse(message.APNS_SANDBOX ?? '{}'),
  };
}

describe('supports', () => {
  test('true only for the platforms that have an application', () => {
    expect(both().supports('fcm')).toBe(true);
    expect(both().supports('apns')).toBe(true);
    const fcmOnly = new SnsPushGateway(client, { fcm: FCM_APP, apns: null });
    expect(fcmOnly.supports('fcm')).toBe(true);
    expect(fcmOnly.supports('apns')).toBe(false);
    const apnsOnly = new SnsPushGateway(client, { fcm: null, apns: APNS_APP });
    expect(apnsOnly.supports('fcm')).toBe(false);
    expect(apnsOnly.supports('apns')).toBe(true);
    const none = new SnsPushGateway(client, { fcm: null, apns: null });
    expect(none.supports('fcm')).toBe(false);
    expect(none.supports('apns')).toBe(false);
  });

  test('registering on a platform without an application fails before calling SNS', async () => {
    const fcmOnly = new SnsPushGateway(client, { fcm: FCM_APP, apns: null });
    await expect(fcmOnly.registerDevice('apns', APNS_TOKEN)).rejects.toThrow(/apns/);
    expect(sns).not.toHaveReceivedAnyCommand();
  });
});

describe('registerDevice', () => {
  test('creates the platform endpoint on the FCM application for an FCM token', async () => {
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: FCM_ENDPOINT });
    await expect(both().registerDevice('fcm', FCM_TOKEN)).resolves.toBe(FCM_ENDPOINT);
    expect(sns).toHaveReceivedCommandExactlyOnceWith(CreatePlatformEndpointCommand, {
      PlatformApplicationArn: FCM_APP,
      Token: FCM_TOKEN,
    });
    expect(sns).not.toHaveReceivedCommand(SetEndpointAttributesCommand);
  });

  test('creates the platform endpoint on the APNs application for an APNs token', async () => {
    sns.on(CreatePlatformEndpointCommand).resolves({ EndpointArn: APNS_ENDPOINT });
    await expect(both().registerDevice('apns', APNS_TOKEN)).resolves.toBe(APNS_ENDPOINT);
    expect(sns).toHaveReceivedCommandExactlyOnceWith(CreatePlatformEndpointCommand, {
      PlatformApplicationArn: APNS_APP,
      Token: APNS_TOKEN,
    });
  });

  test('the same token registered twice is the same endpoint (SNS is idempotent for it)', async () => {
    sns.on(CreatePlatformEndpointCommand, { Token: FCM_TOKEN }).resolves({ EndpointArn: FCM_ENDPOINT });
    const gateway = both();
    const first = await gateway.registerDevice('fcm', FCM_TOKEN);
    const second = await gateway.registerDevice('fcm', FCM_TOKEN);
    expect(second).toBe(first);
    expect(sns).toHaveReceivedCommandTimes(CreatePlatformEndpointCommand, 2);
    expect(sns).not.toHaveReceivedCommand(SetEndpointAttributesCommand);
  });

  test('"already exists with the same Token, but different attributes" re-enables that endpoint and returns it', async () => {
    sns.on(CreatePlatformEndpointCommand).rejects(
      new InvalidParameterException({
        ...meta,
        message: `Invalid parameter: Token Reason: Endpoint ${APNS_ENDPOINT} already exists with the same Token, but different attributes.`,
      }),
    );
    sns.on(SetEndpointAttributesCommand).resolves({});
    await expect(both().registerDevice('apns', APNS_TOKEN)).resolves.toBe(APNS_ENDPOINT);
    expect(sns).toHaveReceivedCommandExactlyOnceWith(CreatePlatformEndpointCommand, {
      PlatformApplicationArn: APNS_APP,
      Token: APNS_TOKEN,
    });
    expect(sns).toHaveReceivedCommandExactlyOnceWith(SetEndpointAttributesCommand, {
      EndpointArn: APNS_ENDPOINT,
      Attributes: { Enabled: 'true', Token: APNS_TOKEN },
    });
  });

  test('the existing endpoint is also found in other partitions (aws-cn)', async () => {
    const cn = 'arn:aws-cn:sns:cn-north-1:123456789012:endpoint/GCM/fairqueue-fcm/abc-123';
    sns.on(CreatePlatformEndpointCommand).rejects(
      new InvalidParameterException({
        ...meta,
        message: `Invalid parameter: Token Reason: Endpoint ${cn} already exists with the same Token, but different attributes.`,
      }),
    );
    sns.on(SetEndpointAttributesCommand).resolves({});
    await expect(both().registerDevice('fcm', FCM_TOKEN)).resolves.toBe(cn);
    expect(sns).toHaveReceivedCommandWith(SetEndpointAttributesCommand, { EndpointArn: cn });
  });

  test('any other InvalidParameterException is not swallowed, and nothing is re-enabled', async () => {
    sns
      .on(CreatePlatformEndpointCommand)
      .rejects(
        new InvalidParameterException({ ...meta, message: 'Invalid parameter: Token Reason: malformed' }),
      );
    await expect(both().registerDevice('fcm', 'bad')).rejects.toBeInstanceOf(InvalidParameterException);
    expect(sns).not.toHaveReceivedCommand(SetEndpointAttributesCommand);
  });

  test('other SNS errors propagate; an answer without an ARN is an error', async () => {
    sns.on(CreatePlatformEndpointCommand).rejects(new ThrottledException({ ...meta, message: 'slow down' }));
    await expect(both().registerDevice('fcm', FCM_TOKEN)).rejects.toBeInstanceOf(ThrottledException);
    sns.reset();
    sns.on(CreatePlatformEndpointCommand).resolves({});
    await expect(both().registerDevice('fcm', FCM_TOKEN)).rejects.toThrow(/ARN/);
  });
});

describe('send', () => {
  test('publishes to the endpoint with MessageStructure json', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    await expect(both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, content())).resolves.toBe('sent');
    const { input, message } = published();
    expect(input).toMatchObject({ TargetArn: FCM_ENDPOINT, MessageStructure: 'json' });
    expect(Object.keys(message).sort()).toEqual(['APNS', 'APNS_SANDBOX', 'GCM', 'default']);
    // Every value of a `json` structure is a string: SNS rejects nested objects.
    for (const value of Object.values(message)) expect(typeof value).toBe('string');
    expect(message.default).toContain("It's your turn");
  });

  test.each<Milestone>(['near', 'admitted', 'claim_expiring', 'closed'])(
    'GCM is an FCM HTTP v1 message with notification and string-valued data (%s)',
    async (milestone) => {
      sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
      const c = content(milestone);
      await both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, c);
      const { gcm } = published();
      const message = gcm.fcmV1Message?.message;
      expect(message).toBeDefined();
      // FCM v1 has no legacy top-level fields: everything under fcmV1Message.message.
      expect(Object.keys(gcm)).toEqual(['fcmV1Message']);
      expect(message.notification).toEqual({ title: c.title, body: c.body });
      expect(message.data).toEqual({ eventId: 'final-2026', position: '42', milestone });
      for (const value of Object.values(message.data)) expect(typeof value).toBe('string');
      expect(c.title.length).toBeGreaterThan(0);
      expect(c.body.length).toBeGreaterThan(0);
    },
  );

  test.each<Milestone>(['near', 'admitted', 'claim_expiring', 'closed'])(
    'APNS and APNS_SANDBOX carry aps.alert title and body (%s)',
    async (milestone) => {
      sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
      const c = content(milestone);
      await both().send(APNS_ENDPOINT, 'apns', APNS_TOKEN, c);
      const { apns, apnsSandbox } = published();
      expect(apns.aps.alert).toEqual({ title: c.title, body: c.body });
      expect(apnsSandbox).toEqual(apns);
      // The app can tell which place and milestone the push is about.
      expect(apns).toMatchObject({ eventId: 'final-2026', position: '42', milestone });
    },
  );

  test('the text names the place and the details of the milestone', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    await both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, content('near'));
    expect(published().gcm.fcmV1Message.message.notification.body).toMatch(/#42.*7 ahead/);
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-2' });
    await both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, content('claim_expiring'));
    expect(published().gcm.fcmV1Message.message.notification.body).toMatch(/30 seconds/);
  });

  test('EndpointDisabledException means the device is gone', async () => {
    sns
      .on(PublishCommand)
      .rejects(new EndpointDisabledException({ ...meta, message: 'Endpoint is disabled' }));
    await expect(both().send(APNS_ENDPOINT, 'apns', APNS_TOKEN, content())).resolves.toBe('gone');
  });

  test('NotFoundException (endpoint deleted) means the device is gone', async () => {
    sns.on(PublishCommand).rejects(new NotFoundException({ ...meta, message: 'No endpoint found' }));
    await expect(both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, content())).resolves.toBe('gone');
  });

  test('other publish errors propagate', async () => {
    sns.on(PublishCommand).rejects(new ThrottledException({ ...meta, message: 'slow down' }));
    await expect(both().send(FCM_ENDPOINT, 'fcm', FCM_TOKEN, content())).rejects.toBeInstanceOf(
      ThrottledException,
    );
  });
});
