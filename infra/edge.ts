import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  type BehaviorOptions,
  CacheCookieBehavior,
  CachedMethods,
  CacheHeaderBehavior,
  CachePolicy,
  CacheQueryStringBehavior,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestCookieBehavior,
  OriginRequestHeaderBehavior,
  OriginRequestPolicy,
  OriginRequestQueryStringBehavior,
  OriginSslPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { EDGE_SECRET_HEADER, VIEWER_ADDRESS_HEADER } from '#http/edge';
import { ROUTES, type RouteDef } from '#http/routes';

/**
 * The CloudFront distribution in front of the HTTP API (decision 0011).
 *
 * @example
 * ```ts
 * import { PriceClass } from 'aws-cdk-lib/aws-cloudfront';
 *
 * new FairQueue(stack, 'Queue', { cloudFront: { priceClass: PriceClass.PRICE_CLASS_100 } });
 * ```
 */
export interface EdgeOptions {
  /** Which edge locations serve fans (and what a request costs there). @default PriceClass.PRICE_CLASS_ALL */
  readonly priceClass?: PriceClass;
  /**
   * ARN of an AWS WAF web ACL (scope CLOUDFRONT, created in us-east-1) to put in front of the
   * distribution, e.g. bot control for a big on-sale. @default - none
   */
  readonly webAclId?: string;
  /**
   * Serve fans and backends on your own host names instead of `{id}.cloudfront.net`: the
   * distribution answers for `names` with `certificate` (an ACM certificate in us-east-1
   * covering every name), and `apiUrl`/`jwksUrl` use the first name. Point each name's DNS
   * (a CNAME, or a Route 53 alias) at the distribution's domain name. @default - the
   * distribution's own domain
   */
  readonly domain?: EdgeDomain;
}

/**
 * Your host names for the distribution; see `EdgeOptions.domain`.
 *
 * @example
 * ```ts
 * import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
 *
 * const certificate = Certificate.fromCertificateArn(stack, 'Cert', certificateArnInUsEast1);
 * new FairQueue(stack, 'Queue', { cloudFront: { domain: { names: ['queue.example.com'], certificate } } });
 * ```
 */
export interface EdgeDomain {
  /** At least one, e.g. `['queue.example.com']`; the first is the one handed to clients. */
  readonly names: readonly string[];
  /** ACM certificate in us-east-1 (CloudFront's region) covering every name. */
  readonly certificate: ICertificate;
}

export interface FairqueueEdgeProps extends EdgeOptions {
  readonly api: HttpApi;
  /** The browser origins the HTTP API allows; the cached answers get the same CORS answer. */
  readonly corsAllowOrigins: readonly string[];
}

/** How CloudFront treats a path: the public event document, the JWKS, or anything else (uncached). */
export type EdgeKind = 'eventDocument' | 'jwks' | 'passThrough';

/**
 * The cache behaviours, in the order CloudFront tries them (the first pattern that matches
 * wins; the default behaviour, `passThrough`, takes the rest). In a pattern `*` matches any
 * characters, `/` included, so `/v1/events/*` alone would also match every fan route under an
 * event: `/v1/events/*\/*` comes first and keeps those uncached.
 */
export const EDGE_BEHAVIOURS: readonly { readonly pathPattern: string; readonly kind: EdgeKind }[] = [
  { pathPattern: '/v1/events/*/*', kind: 'passThrough' },
  { pathPattern: '/v1/events/*', kind: 'eventDocument' },
  { pathPattern: '/.well-known/jwks.json', kind: 'jwks' },
];

function patternRegex(pattern: string): RegExp {
  const source = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** The behaviour CloudFront picks for a request path (patterns are case-sensitive, as CloudFront's). */
export function edgeKindOf(path: string): EdgeKind {
  return EDGE_BEHAVIOURS.find((b) => patternRegex(b.pathPattern).test(path))?.kind ?? 'passThrough';
}

/** What each route must get from the edge: only these two are ever answered from a cache. */
function expectedKind(route: RouteDef): EdgeKind {
  if (route.fn === 'event') return 'eventDocument';
  if (route.fn === 'jwks') return 'jwks';
  return 'passThrough';
}

/**
 * Fails the synth when a route of the table would land in the wrong behaviour, e.g. a new
 * `GET /v1/events/{eventId}.json` in the cached document's. Path parameters never hold `/`.
 */
function checkRoutes(routes: readonly RouteDef[]): void {
  for (const route of routes) {
    const path = (route.routeKey.split(' ')[1] ?? '').replace(/\{[^}]+\}/g, 'x');
    const kind = edgeKindOf(path);
    if (kind !== expectedKind(route)) {
      throw new Error(
        `route "${route.routeKey}" would be served by the edge's ${kind} behaviour, not ${expectedKind(route)}: update EDGE_BEHAVIOURS in infra/edge.ts`,
      );
    }
  }
}

/**
 * Headers the uncached routes read, beyond `Authorization` (which CloudFront forwards only as
 * part of a cache key, below): the body's type (join, devices, admin), CORS (`Origin` and a
 * preflight's two, so API Gateway answers CORS as it does without the distribution), and the
 * viewer's address for the per-address join limit. No cookie and no query string: no HTTP route
 * reads one (the WebSocket's `?token=` goes to the WebSocket API, not through here).
 */
export const PASS_THROUGH_HEADERS = [
  'content-type',
  'origin',
  'access-control-request-method',
  'access-control-request-headers',
  VIEWER_ADDRESS_HEADER,
] as const;

/** Longest that CloudFront keeps the JWKS when the origin's max-age says more (it says 300 s). */
export const JWKS_MAX_TTL = Duration.days(1);

/**
 * CloudFront in front of fairqueue's HTTP API: the public event document cached for a second
 * and the JWKS for its max-age, one copy for everyone; every other request passes through
 * uncached with the headers its route reads. Operators keep the API Gateway URL: SigV4 signs
 * the host it is sent to.
 */
export class FairqueueEdge extends Construct {
  readonly distribution: Distribution;
  /** The host clients use: the first `domain` name, or `{id}.cloudfront.net`. */
  readonly host: string;
  /** `https://{host}/`. */
  readonly url: string;
  /**
   * The secret the distribution adds to every request it sends to the API (header
   * `x-fairqueue-edge`); `join` trusts `CloudFront-Viewer-Address` only next to it.
   */
  readonly secret: Secret;

  constructor(scope: Construct, id: string, props: FairqueueEdgeProps) {
    super(scope, id);
    checkRoutes(ROUTES);
    const names = props.domain?.names ?? [];
    if (props.domain && names.length === 0) {
      throw new Error('cloudFront.domain.names must hold at least one host name');
    }
    const stack = Stack.of(this);
    // Policy names are unique per account, across regions: the same stack in two regions must not clash.
    const policyName = (id: string) => `${stack.stackName}-${id}-${stack.region}`;

    this.secret = new Secret(this, 'Secret', {
      description: 'fairqueue: proves a request to the HTTP API came through its CloudFront distribution',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Read by CloudFormation alone, into the distribution and the join function at deploy; no code reads it at run time. A leak lets a client choose the address its joins are counted under, nothing more; a new value takes a deploy of both, which rotation could not do.',
    });

    // `{apiId}.execute-api.{region}.{suffix}`: the HTTP API's default endpoint.
    const origin = new HttpOrigin(`${props.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`, {
      protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [OriginSslPolicy.TLS_V1_2],
      // An origin custom header replaces one of the same name a viewer sends.
      customHeaders: { [EDGE_SECRET_HEADER]: this.secret.secretValue.unsafeUnwrap() },
    });

    // Nothing of a viewer's request but the path reaches the API or the cache key: one copy
    // of an event's document (and of the JWKS) for every fan, no Authorization, no cookie, no
    // query string to tell copies apart or to bust the cache with.
    const publicKey = {
      headerBehavior: CacheHeaderBehavior.none(),
      cookieBehavior: CacheCookieBehavior.none(),
      queryStringBehavior: CacheQueryStringBehavior.none(),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    };
    const eventDocumentCache = new CachePolicy(this, 'EventDocumentCache', {
      cachePolicyName: policyName('EventDocument'),
      comment: 'fairqueue public event document: one copy per event, at most 1 s old',
      ...publicKey,
      // The document says `max-age=1`; CloudFront keeps it no longer, and a second when it says nothing.
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(1),
      maxTtl: Duration.seconds(1),
    });
    const jwksCache = new CachePolicy(this, 'JwksCache', {
      cachePolicyName: policyName('Jwks'),
      comment: 'fairqueue JWKS: one copy, kept as long as its Cache-Control max-age says',
      ...publicKey,
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(0),
      maxTtl: JWKS_MAX_TTL,
    });
    // CloudFront forwards `Authorization` only as part of a cache key, and a policy whose TTLs
    // are all 0 may have no key: so a maximum of 1 s. Nothing is kept: every fan answer says
    // `no-store` or, the online access check's 200, `private` (both honoured while the minimum
    // TTL is 0), and answers that say nothing (API Gateway's own) get the default TTL, 0.
    const passThroughCache = new CachePolicy(this, 'PassThroughCache', {
      cachePolicyName: policyName('PassThrough'),
      comment: 'fairqueue fan routes: never cached; the bearer token reaches the API',
      headerBehavior: CacheHeaderBehavior.allowList('authorization'),
      cookieBehavior: CacheCookieBehavior.none(),
      queryStringBehavior: CacheQueryStringBehavior.none(),
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(0),
      maxTtl: Duration.seconds(1),
    });
    const passThroughRequest = new OriginRequestPolicy(this, 'PassThroughRequest', {
      originRequestPolicyName: policyName('PassThrough'),
      comment: 'fairqueue fan routes: what they read besides Authorization, and the viewer address',
      headerBehavior: OriginRequestHeaderBehavior.allowList(...PASS_THROUGH_HEADERS),
      cookieBehavior: OriginRequestCookieBehavior.none(),
      queryStringBehavior: OriginRequestQueryStringBehavior.none(),
    });
    // The cached answers reach API Gateway without `Origin`, so they carry no CORS headers of
    // their own; the edge adds API Gateway's answer to each viewer's request instead.
    const publicCors = new ResponseHeadersPolicy(this, 'PublicCors', {
      responseHeadersPolicyName: policyName('PublicCors'),
      comment: 'fairqueue cached answers: the CORS headers the HTTP API would send',
      corsBehavior: {
        accessControlAllowOrigins: [...props.corsAllowOrigins],
        accessControlAllowMethods: ['GET', 'HEAD'],
        // Only a preflight reads it, and these behaviours take none (simple GETs only).
        accessControlAllowHeaders: ['*'],
        accessControlExposeHeaders: ['retry-after'],
        accessControlAllowCredentials: false,
        accessControlMaxAge: Duration.hours(1),
        originOverride: true,
      },
    });

    const passThrough: BehaviorOptions = {
      origin,
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      cachedMethods: CachedMethods.CACHE_GET_HEAD,
      cachePolicy: passThroughCache,
      originRequestPolicy: passThroughRequest,
      compress: false,
    };
    const cached = (cachePolicy: CachePolicy): BehaviorOptions => ({
      origin,
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
      cachedMethods: CachedMethods.CACHE_GET_HEAD,
      cachePolicy,
      responseHeadersPolicy: publicCors,
      compress: true,
    });
    const behaviours: Record<EdgeKind, BehaviorOptions> = {
      eventDocument: cached(eventDocumentCache),
      jwks: cached(jwksCache),
      passThrough,
    };

    this.distribution = new Distribution(this, 'Distribution', {
      comment: `fairqueue public API of ${stack.stackName}`,
      priceClass: props.priceClass ?? PriceClass.PRICE_CLASS_ALL,
      httpVersion: HttpVersion.HTTP2_AND_3,
      ...(props.webAclId !== undefined && { webAclId: props.webAclId }),
      ...(props.domain && {
        domainNames: [...names],
        certificate: props.domain.certificate,
        minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
      }),
      defaultBehavior: passThrough,
      additionalBehaviors: Object.fromEntries(
        EDGE_BEHAVIOURS.map(({ pathPattern, kind }) => [pathPattern, behaviours[kind]]),
      ),
      // CloudFront keeps a 5xx for 10 s by default, whatever its Cache-Control says: a fan's
      // status poll answered 503 would get that 503 again when it retries after Retry-After
      // (1 s and up). A second matches the document's own age and still spares a struggling
      // origin the document's requests.
      errorResponses: [500, 502, 503, 504].map((httpStatus) => ({ httpStatus, ttl: Duration.seconds(1) })),
    });
    this.host = names[0] ?? this.distribution.distributionDomainName;
    this.url = `https://${this.host}/`;

    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason:
          'Fans come from wherever the sale is sold; the operator restricts geography, if at all, upstream.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason:
          'Standard logs need an ACL-enabled S3 bucket; the API Gateway access log already records every request that reaches the API, and CloudFront metrics count the rest.',
      },
    );
    if (!props.domain) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'The default *.cloudfront.net certificate cannot pin a minimum TLS version (with a domain of its own, the distribution requires TLS 1.2); the API Gateway URL it fronts has the same default.',
      });
    }
    if (props.webAclId === undefined) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR2',
        reason:
          'A web ACL is the operator’s choice and must live in us-east-1 (prop cloudFront.webAclId, context fairqueue:cloudFrontWebAclId); the stage throttle and the per-address join limit apply without one.',
      });
    }
  }
}
