/**
 * Starts the local waiting room in process for a test: embedded store (or
 * DynamoDB Local), keys in a temp folder, a port picked by the OS, and no
 * timer-driven ticks unless asked: tests call `app.tick()` themselves.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeOverrides } from '#app/runtime';
import { type LocalApp, startLocal } from '#local/app';

export const TEST_ADMIN_TOKEN = 'test-admin-token';

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly tickMs?: number;
  readonly demo?: boolean;
  readonly overrides?: RuntimeOverrides;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<LocalApp> {
  const keyDir = mkdtempSync(join(tmpdir(), 'fq-keys-'));
  const env = {
    FQ_STORE: 'memory',
    FQ_KEY_DIR: keyDir,
    FQ_TICK_SECONDS: '1',
    ...options.env,
  };
  return startLocal({
    port: 0,
    tickMs: options.tickMs ?? 3_600_000,
    adminToken: TEST_ADMIN_TOKEN,
    env,
    demo: options.demo ? { eventId: 'demo', capacity: 20, admitPerMinute: null } : null,
    ...(options.overrides ? { overrides: options.overrides } : {}),
  });
}

/** A small fetch wrapper that returns status, headers and parsed JSON. */
export async function call(
  app: { url: string },
  method: string,
  path: string,
  options: {
    token?: string;
    admin?: boolean;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
  } = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers; the OpenAPI suite checks their shapes.
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.admin) headers.authorization = `Bearer ${TEST_ADMIN_TOKEN}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${app.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
