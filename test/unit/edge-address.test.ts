/**
 * Behind CloudFront, which address a join is counted under (decision 0011): the viewer's,
 * from `CloudFront-Viewer-Address`, only on a request carrying the distribution's secret;
 * anything sent straight to API Gateway is counted by its own connection, whatever headers
 * it brings.
 */
import '../support/handler-env.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { readConfig } from '#app/config';
import { buildRuntime, setRuntime } from '#app/runtime';
import {
  clientAddress,
  EDGE_SECRET_ENV,
  EDGE_SECRET_HEADER,
  edgeSecretFrom,
  parseViewerAddress,
  VIEWER_ADDRESS_HEADER,
} from '#http/edge';
import { clientIp } from '#http/http';
import { lambdaContext } from '#local/gateway';
import { apiEvent } from '../support/forge.ts';

const SECRET = 'k7Qm2vX9pL4sT8wZ1nB6cR3yH5jD0fGaEuVoIi';
/** An address of CloudFront's origin-facing range: what API Gateway sees behind the distribution. */
const EDGE_IP = '130.176.88.21';
const CONNECTION_IP = '203.0.113.50';

const JOIN = 'POST /v1/events/{eventId}/join';
const joinEvent = (headers: Record<string, string>, sourceIp = EDGE_IP) =>
  apiEvent(JOIN, { eventId: 'e1', body: {}, headers, sourceIp });

describe('the viewer address from CloudFront-Viewer-Address', () => {
  test.each([
    ['198.51.100.7:46532', '198.51.100.7'],
    ['2001:db8:3333:4444:5555:6666:7777:8888:443', '2001:db8:3333:4444:5555:6666:7777:8888'],
    ['2001:db8::7:51000', '2001:db8::7'],
    ['[2001:db8::7]:51000', '2001:db8::7'],
  ])('%s is the viewer %s', (header, ip) => {
    expect(parseViewerAddress(header)).toBe(ip);
  });

  test.each([
    '',
    '198.51.100.7',
    '198.51.100.7:',
    '198.51.100.7:port',
    '198.51.100.7:123456',
    'not-an-ip:443',
    '999.1.1.1:443',
    '198.51.100.7:443, 203.0.113.9:443',
    ':443',
  ])('%j is no address', (header) => {
    expect(parseViewerAddress(header)).toBeUndefined();
  });
});

describe('whose address a request is counted under', () => {
  test('through the distribution: the viewer, not the edge', () => {
    const event = joinEvent({ [EDGE_SECRET_HEADER]: SECRET, [VIEWER_ADDRESS_HEADER]: '198.51.100.7:46532' });
    expect(clientIp(event, SECRET)).toBe('198.51.100.7');
  });

  test('header names in any case, as clients and proxies send them', () => {
    const event = joinEvent({ 'X-Fairqueue-Edge': SECRET, 'cloudfront-viewer-address': '198.51.100.7:1' });
    expect(clientIp(event, SECRET)).toBe('198.51.100.7');
  });

  test('straight to API Gateway with a forged viewer address: its own connection', () => {
    const forged = { [VIEWER_ADDRESS_HEADER]: '198.51.100.99:443' };
    expect(clientIp(joinEvent(forged, CONNECTION_IP), SECRET)).toBe(CONNECTION_IP);
    expect(clientIp(joinEvent({ ...forged, [EDGE_SECRET_HEADER]: 'guess' }, CONNECTION_IP), SECRET)).toBe(
      CONNECTION_IP,
    );
    // A prefix or a longer value of the secret is no better than a guess.
    for (const near of [SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase(), ''])
      expect(clientIp(joinEvent({ ...forged, [EDGE_SECRET_HEADER]: near }, CONNECTION_IP), SECRET)).toBe(
        CONNECTION_IP,
      );
  });

  test('no distribution configured: every header is ignored', () => {
    const event = joinEvent(
      { [EDGE_SECRET_HEADER]: SECRET, [VIEWER_ADDRESS_HEADER]: '198.51.100.7:1' },
      CONNECTION_IP,
    );
    expect(clientIp(event, undefined)).toBe(CONNECTION_IP);
  });

  test('through the distribution without a usable viewer address: nobody, never the edge', () => {
    expect(
      clientAddress({ sourceIp: EDGE_IP, edgeSecret: SECRET, viewerAddress: undefined }, SECRET),
    ).toEqual({
      via: 'edge',
      address: undefined,
    });
    expect(
      clientIp(joinEvent({ [EDGE_SECRET_HEADER]: SECRET, [VIEWER_ADDRESS_HEADER]: 'junk' }), SECRET),
    ).toBe(undefined);
  });

  test('whatever a client sends without the secret, it is counted by its own connection', () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(
          fc.oneof(
            fc.string(),
            fc.ipV4().map((ip) => `${ip}:443`),
          ),
          { nil: undefined },
        ),
        (sourceIp, edgeSecret, viewerAddress) => {
          fc.pre(edgeSecret !== SECRET);
          expect(clientAddress({ sourceIp, edgeSecret, viewerAddress }, SECRET)).toEqual({
            via: 'direct',
            address: sourceIp,
          });
        },
      ),
    );
  });
});

describe('FQ_EDGE_SECRET', () => {
  test('unset or empty: no distribution in front', () => {
    expect(edgeSecretFrom({})).toBeUndefined();
    expect(edgeSecretFrom({ [EDGE_SECRET_ENV]: '' })).toBeUndefined();
  });

  test('a short value fails the start instead of being guessable', () => {
    expect(() => edgeSecretFrom({ [EDGE_SECRET_ENV]: 'short' })).toThrow(
      /FQ_EDGE_SECRET must be at least 32/,
    );
    expect(edgeSecretFrom({ [EDGE_SECRET_ENV]: SECRET })).toBe(SECRET);
  });
});

describe('the join route behind the distribution, one join per address a minute', () => {
  type Handler = (
    event: APIGatewayProxyEventV2,
    context: Context,
  ) => Promise<APIGatewayProxyStructuredResultV2>;
  let joinHandler: Handler;
  const send = async (event: APIGatewayProxyEventV2) =>
    (await joinHandler(event, lambdaContext('join'))) as APIGatewayProxyStructuredResultV2;

  beforeAll(async () => {
    // The handler reads FQ_EDGE_SECRET when it loads, as a Lambda does at a cold start.
    process.env[EDGE_SECRET_ENV] = SECRET;
    const runtime = buildRuntime(
      readConfig({
        FQ_STORE: 'memory',
        FQ_KEY_DIR: mkdtempSync(join(tmpdir(), 'fq-edge-keys-')),
        FQ_JOIN_RATE_LIMIT_PER_MINUTE: '1',
      }),
    );
    setRuntime(runtime);
    await runtime.room.putEvent('e1', { capacity: 10 });
    ({ handler: joinHandler } = await import('#functions/join'));
  });

  test('fans behind one edge location are counted apart', async () => {
    for (const viewer of ['198.51.100.1:1000', '198.51.100.2:1000']) {
      const answer = await send(joinEvent({ [EDGE_SECRET_HEADER]: SECRET, [VIEWER_ADDRESS_HEADER]: viewer }));
      expect(answer.statusCode, viewer).toBe(201);
    }
    const again = await send(
      joinEvent({ [EDGE_SECRET_HEADER]: SECRET, [VIEWER_ADDRESS_HEADER]: '198.51.100.1:2000' }),
    );
    expect(again.statusCode).toBe(429);
  });

  test('a client calling API Gateway directly cannot take a new address per join', async () => {
    const first = await send(joinEvent({ [VIEWER_ADDRESS_HEADER]: '192.0.2.1:1' }, CONNECTION_IP));
    expect(first.statusCode).toBe(201);
    const second = await send(joinEvent({ [VIEWER_ADDRESS_HEADER]: '192.0.2.2:1' }, CONNECTION_IP));
    expect(second.statusCode).toBe(429);
  });
});
