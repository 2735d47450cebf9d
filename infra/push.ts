import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * SNS mobile push. Without any application ARN, push is off and device registration answers 503.
 *
 * @example
 * ```ts
 * new FairQueue(stack, 'Queue', {
 *   push: { fcmApplicationArn: 'arn:aws:sns:eu-west-1:123456789012:app/GCM/tickets' },
 * });
 * ```
 */
export interface PushProps {
  /** SNS platform application for Firebase Cloud Messaging: `arn:…:sns:{region}:{account}:app/GCM/{name}`. */
  readonly fcmApplicationArn?: string;
  /** SNS platform application for APNs: `arn:…:app/APNS/{name}` or `arn:…:app/APNS_SANDBOX/{name}`. */
  readonly apnsApplicationArn?: string;
  /**
   * Whether the APNs application is the sandbox one (development builds).
   * @default - true when the APNs application ARN is `app/APNS_SANDBOX/…`, else false
   */
  readonly apnsSandbox?: boolean;
}

/** What the stack needs once push is on: grants and the handlers' environment. */
export interface PushSetup {
  /** Platform application ARNs: devices may create endpoints under these only. */
  readonly applicationArns: readonly string[];
  /**
   * Endpoint ARN patterns (`…:endpoint/{GCM|APNS|APNS_SANDBOX}/{appName}/*`): endpoints
   * are created at run time, so their ARNs are only known by prefix.
   */
  readonly endpointArns: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
}

const PLATFORM_APPLICATION = /^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):app\/([A-Z_]+)\/([\w.-]{1,256})$/;

function endpointPattern(
  scope: Construct,
  arn: string,
  allowed: readonly string[],
  label: string,
): { pattern: string; platform?: string } {
  if (Token.isUnresolved(arn)) {
    // Known only at deploy time (a parameter, an import): any endpoint of this account and region.
    return {
      pattern: Stack.of(scope).formatArn({
        service: 'sns',
        resource: 'endpoint',
        resourceName: '*',
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    };
  }
  const match = PLATFORM_APPLICATION.exec(arn);
  const platform = match?.[4];
  if (match === null || platform === undefined || !allowed.includes(platform)) {
    throw new Error(
      `${label} must be an SNS platform application ARN (arn:aws:sns:{region}:{account}:app/{${allowed.join('|')}}/{name}), got "${arn}"`,
    );
  }
  const [, partition, region, account, , name] = match;
  return { pattern: `arn:${partition}:sns:${region}:${account}:endpoint/${platform}/${name}/*`, platform };
}

/** Validates the push configuration; undefined when push is off (no application configured). */
export function pushSetup(scope: Construct, props: PushProps | undefined): PushSetup | undefined {
  const fcm = props?.fcmApplicationArn || undefined;
  const apns = props?.apnsApplicationArn || undefined;
  if (fcm === undefined && apns === undefined) return undefined;
  const applicationArns: string[] = [];
  const endpointArns: string[] = [];
  const environment: Record<string, string> = {};
  if (fcm !== undefined) {
    const { pattern } = endpointPattern(scope, fcm, ['GCM'], 'push fcmApplicationArn');
    applicationArns.push(fcm);
    endpointArns.push(pattern);
    environment.FQ_PUSH_FCM_APPLICATION_ARN = fcm;
  }
  let sandbox = props?.apnsSandbox ?? false;
  if (apns !== undefined) {
    const { pattern, platform } = endpointPattern(
      scope,
      apns,
      ['APNS', 'APNS_SANDBOX'],
      'push apnsApplicationArn',
    );
    if (platform !== undefined) {
      // The push worker picks the payload key (APNS or APNS_SANDBOX) from this flag; a
      // mismatch with the application would make SNS drop every APNs message.
      const inferred = platform === 'APNS_SANDBOX';
      if (props?.apnsSandbox !== undefined && props.apnsSandbox !== inferred) {
        throw new Error(
          `push apnsSandbox is ${props.apnsSandbox} but the APNs application is an ${platform} application`,
        );
      }
      sandbox = inferred;
    }
    applicationArns.push(apns);
    if (!endpointArns.includes(pattern)) endpointArns.push(pattern);
    environment.FQ_PUSH_APNS_APPLICATION_ARN = apns;
  }
  environment.FQ_PUSH_APNS_SANDBOX = String(sandbox);
  return { applicationArns, endpointArns, environment };
}
