import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FileKeyStore } from '#adapters/file-key-store';
import {
  Backoff,
  LIVE_STATUS_SECONDS,
  NEAR_DOCUMENT_SECONDS,
  NEAR_DOCUMENT_WAIT_SECONDS,
  readPlan,
} from '#client/pacing';
import { base64UrlDecode, readPositionToken, utf8Decode } from '#client/token';
import { TokenService } from '#lib/token-service';
import { TestClock } from '../support/clock.ts';

describe('what to read when', () => {
  const view = (
    status: 'waiting' | 'admitted' | 'active' | 'missed' | 'left' | null,
    eventState = 'open' as const,
  ) => ({
    status,
    eventState,
  });

  test('waiting and not live: the status at its own pace and the document at its own', () => {
    expect(
      readPlan({
        view: view('waiting'),
        live: false,
        statusPollAfterSeconds: 7,
        documentPollAfterSeconds: 5,
      }),
    ).toEqual({
      done: false,
      statusSeconds: 7,
      documentSeconds: 5,
    });
  });

  test('live: the status is only a backstop; the document is still read (far fans hear the socket rarely)', () => {
    expect(
      readPlan({ view: view('waiting'), live: true, statusPollAfterSeconds: 7, documentPollAfterSeconds: 5 }),
    ).toEqual({
      done: false,
      statusSeconds: LIVE_STATUS_SECONDS,
      documentSeconds: 5,
    });
    expect(
      readPlan({ view: view('waiting'), live: true, statusPollAfterSeconds: 60, documentPollAfterSeconds: 5 })
        .statusSeconds,
    ).toBe(60);
  });

  test('before the server has said its pace, defaults; once admitted, no more document', () => {
    expect(
      readPlan({
        view: view(null),
        live: false,
        statusPollAfterSeconds: null,
        documentPollAfterSeconds: null,
      }),
    ).toEqual({
      done: false,
      statusSeconds: 5,
      documentSeconds: 8,
    });
    expect(
      readPlan({
        view: view('admitted'),
        live: false,
        statusPollAfterSeconds: 2,
        documentPollAfterSeconds: 5,
      }),
    ).toEqual({
      done: false,
      statusSeconds: 2,
      documentSeconds: null,
    });
  });

  test('over: nothing more to read', () => {
    for (const status of ['missed', 'left'] as const)
      expect(
        readPlan({ view: view(status), live: true, statusPollAfterSeconds: 2, documentPollAfterSeconds: 5 })
          .done,
      ).toBe(true);
    expect(
      readPlan({
        view: { status: 'waiting', eventState: 'closed' },
        live: false,
        statusPollAfterSeconds: 2,
        documentPollAfterSeconds: 5,
      }),
    ).toEqual({ done: true, statusSeconds: null, documentSeconds: null });
  });
});

describe('backoff', () => {
  test('doubles from the initial delay up to the maximum, jittered by [0.5, 1.5); a reset starts over', () => {
    const mid = new Backoff({ initialMs: 1000, maxMs: 8000, random: () => 0.5 });
    expect([1, 2, 3, 4, 5, 6].map(() => mid.next())).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(mid.attempts).toBe(6);
    mid.reset();
    expect(mid.next()).toBe(1000);
    expect(new Backoff({ random: () => 0 }).next()).toBe(500);
  });

  test('property: every delay lies within its jitter band, however many failures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.integer({ min: 1, max: 80 }),
        (initialMs, maxMs, failures) => {
          const backoff = new Backoff({ initialMs, maxMs });
          const cap = Math.max(initialMs, maxMs);
          for (let n = 0; n < failures; n++) {
            const base = Math.min(cap, initialMs * 2 ** n);
            const delay = backoff.next();
            expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.5));
            expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.5));
            expect(Number.isFinite(delay)).toBe(true);
          }
        },
      ),
    );
  });
});

describe('reading a position token without verifying it', () => {
  test('a real position token: its pos, event and expiry', async () => {
    const clock = new TestClock();
    const store = new FileKeyStore(mkdtempSync(join(tmpdir(), 'fq-client-token-')));
    const tokens = new TokenService(
      { publicKeys: store, signingKeys: store },
      { issuer: 'fairqueue', cacheSeconds: 300, now: clock.now },
    );
    const { token, exp } = await tokens.signPosition({
      eventId: 'summer-tour',
      sub: 'fan-é🎫',
      pos: 4711,
      nowSec: clock.sec,
      ttlSeconds: 1800,
    });
    expect(readPositionToken(token)).toEqual({ pos: 4711, eventId: 'summer-tour', exp });
  });

  test('anything else is null', () => {
    const part = (claims: unknown) => Buffer.from(JSON.stringify(claims)).toString('base64url');
    expect(readPositionToken('')).toBeNull();
    expect(readPositionToken('a.b')).toBeNull();
    expect(readPositionToken(`h.${part({ pos: 0 })}.s`)).toBeNull();
    expect(readPositionToken(`h.${part({ pos: 1.5 })}.s`)).toBeNull();
    expect(readPositionToken(`h.${part({ pos: '3' })}.s`)).toBeNull();
    expect(readPositionToken(`h.${part([3])}.s`)).toBeNull();
    expect(readPositionToken('h.!!!.s')).toBeNull();
    expect(readPositionToken(`h.${Buffer.from('{"pos":').toString('base64url')}.s`)).toBeNull();
    expect(readPositionToken(`h.${part({ pos: 3 })}.s`)).toEqual({ pos: 3, eventId: null, exp: null });
  });

  test('property: base64url decodes what Node encodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        expect(base64UrlDecode(text)).toEqual(new Uint8Array(bytes));
        expect(base64UrlDecode(`${text}==`.slice(0, text.length + ((4 - (text.length % 4)) % 4)))).toEqual(
          new Uint8Array(bytes),
        );
      }),
    );
    expect(base64UrlDecode('a')).toBeNull();
    expect(base64UrlDecode('ab+c')).toBeNull();
  });

  test('property: UTF-8 decodes as a strict decoder does, and refuses what it refuses', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        expect(utf8Decode(new Uint8Array(Buffer.from(text, 'utf8')))).toBe(text);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        let expected: string | null;
        try {
          expected = strict.decode(bytes);
        } catch {
          expected = null;
        }
        // A leading byte-order mark is the one thing TextDecoder drops by itself.
        if (expected !== null && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
          expected = `\uFEFF${expected}`;
        expect(utf8Decode(bytes)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

test('near the front the document is read faster than its own pace; further back at its pace', () => {
  const near = {
    status: 'waiting' as const,
    eventState: 'open' as const,
    estimatedWaitSeconds: NEAR_DOCUMENT_WAIT_SECONDS,
  };
  expect(
    readPlan({ view: near, live: true, statusPollAfterSeconds: 7, documentPollAfterSeconds: 8 })
      .documentSeconds,
  ).toBe(NEAR_DOCUMENT_SECONDS);
  expect(
    readPlan({
      view: { ...near, estimatedWaitSeconds: NEAR_DOCUMENT_WAIT_SECONDS + 1 },
      live: false,
      statusPollAfterSeconds: 7,
      documentPollAfterSeconds: 8,
    }).documentSeconds,
  ).toBe(8);
  // A document that asks for a faster pace still gets it.
  expect(
    readPlan({ view: near, live: false, statusPollAfterSeconds: 7, documentPollAfterSeconds: 2 })
      .documentSeconds,
  ).toBe(2);
});
