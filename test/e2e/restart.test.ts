/**
 * `npm start` killed and started again (issue 6, defect 2). The local runtime keeps
 * its queue in the embedded store on disk: after a kill -9 every acknowledged place,
 * session and event config is there, and no position is handed out twice. A clean
 * start (`--clean`), or a store that keeps nothing (`FQ_STORE=memory`), starts a new
 * queue with new signing keys, so every token of the old one is refused with 401.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { call } from '../support/local-app.ts';
import {
  type LocalProcess,
  newStateDir,
  PROCESS_ADMIN_TOKEN,
  startLocalProcess,
} from '../support/local-process.ts';

const admin = { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` };
/** Ticks every 100 ms; the demo event lets in 4 at once, with no rate cap. */
const SALE_ENV = { TICK_MS: '100', DEMO_CAPACITY: '4', DEMO_ADMIT_PER_MINUTE: '0' };

const running: LocalProcess[] = [];
async function start(options: Parameters<typeof startLocalProcess>[0]) {
  const app = await startLocalProcess(options);
  running.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.stop()));
});

interface Place {
  readonly position: number;
  readonly token: string;
  readonly userId: string | undefined;
}

async function join(app: { url: string }, userId?: string): Promise<Place> {
  const res = await call(app, 'POST', '/v1/events/demo/join', { body: userId ? { userId } : {} });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { position: res.body.position, token: res.body.token, userId };
}

/** Polls status until the place is admitted (the scheduler ticks every 100 ms); bounded. */
async function untilAdmitted(app: { url: string }, token: string) {
  for (let i = 0; i < 200; i++) {
    const status = await call(app, 'GET', '/v1/events/demo/status', { token });
    expect(status.status).toBe(200);
    if (status.body.status === 'admitted') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the place was never admitted');
}

describe('a restart of the local runtime', () => {
  test('kill -9 during a sale with joins in flight: every acknowledged place, session and config is back', async () => {
    const stateDir = newStateDir();
    let app = await start({ stateDir, env: SALE_ENV });
    expect(app.output()).toContain('started fresh');

    // The operator changes the event; four fans are let in and claim their sessions.
    const config = { capacity: 4, purchaseWindowSeconds: 900, claimWindowSeconds: 600, nearThreshold: 7 };
    const put = await call(app, 'PUT', '/v1/admin/events/demo', { headers: admin, body: config });
    expect(put.status).toBe(200);
    const early = [];
    for (let i = 0; i < 4; i++) early.push(await join(app, `early-${i}`));
    const sessions = new Map<string, string>();
    for (const place of early) {
      await untilAdmitted(app, place.token);
      const claim = await call(app, 'POST', '/v1/events/demo/admission', { token: place.token });
      expect(claim.status).toBe(200);
      sessions.set(place.token, claim.body.sessionId);
    }

    // The crowd: 32 joins in flight at all times, half of them with a user id, until the
    // process is killed once 300 have been answered. The joins in flight then die with it:
    // only answered ones were promised a place.
    const acknowledged: Place[] = [...early];
    let answered = 0;
    let killing: Promise<void> | undefined;
    const current = app;
    const fan = async (worker: number) => {
      for (let i = 0; ; i++) {
        const userId = i % 2 === 0 ? `fan-${worker}-${i}` : undefined;
        let res: Awaited<ReturnType<typeof call>>;
        try {
          res = await call(current, 'POST', '/v1/events/demo/join', { body: userId ? { userId } : {} });
        } catch {
          return; // The process is gone.
        }
        if (res.status !== 201 && res.status !== 200) continue;
        acknowledged.push({ position: res.body.position, token: res.body.token, userId });
        if (++answered === 300) killing = current.kill9();
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, worker) => fan(worker)));
    await (killing ?? current.kill9());
    expect((await current.exited).signal).toBe('SIGKILL');
    // Nothing serves the old port any more: the queue can only come back from the disk.
    await expect(fetch(`${current.url}/v1/events/demo`)).rejects.toThrow();
    expect(acknowledged.length).toBeGreaterThanOrEqual(304);
    const positions = acknowledged.map((p) => p.position);
    expect(new Set(positions).size).toBe(positions.length);

    app = await start({ stateDir, env: SALE_ENV });
    expect(app.output()).toContain('resumed');

    // Every acknowledged place: the token verifies and holds the same position.
    for (const place of acknowledged) {
      const status = await call(app, 'GET', '/v1/events/demo/status', { token: place.token });
      expect(status.status, `position ${place.position}`).toBe(200);
      expect(status.body.position).toBe(place.position);
      if (place.userId) {
        // The user's binding is there too: joining again is the same place.
        const again = await call(app, 'POST', '/v1/events/demo/join', { body: { userId: place.userId } });
        expect(again.status).toBe(200);
        expect(again.body.position).toBe(place.position);
      }
    }
    // Every session: claiming again returns the same one.
    for (const [token, sessionId] of sessions) {
      const claim = await call(app, 'POST', '/v1/events/demo/admission', { token });
      expect(claim.status).toBe(200);
      expect(claim.body.sessionId).toBe(sessionId);
    }
    // The event and the operator's config.
    const resumed = await call(app, 'POST', '/v1/admin/events/demo/resume', { headers: admin });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'open', ...config });
    const stats = await call(app, 'GET', '/v1/admin/events/demo/stats', { headers: admin });
    expect(stats.body).toMatchObject({ active: 4, servingPosition: 4 });
    expect(stats.body.issued).toBeGreaterThanOrEqual(Math.max(...positions));

    // No position is handed out twice: the next join comes after every acknowledged one.
    const next = await join(app, 'after-restart');
    expect(next.position).toBeGreaterThan(Math.max(...positions));
  });

  test('--clean starts a new queue: old tokens get 401 and the demo event is created anew', async () => {
    const stateDir = newStateDir();
    let app = await start({ stateDir, env: SALE_ENV });
    await call(app, 'PUT', '/v1/admin/events/demo', { headers: admin, body: { capacity: 9 } });
    const alice = await join(app, 'alice');
    await untilAdmitted(app, alice.token);
    const claim = await call(app, 'POST', '/v1/events/demo/admission', { token: alice.token });
    expect(claim.status).toBe(200);
    await app.kill9();

    app = await start({ stateDir, env: SALE_ENV, args: ['--clean'] });
    expect(app.output()).toContain('started fresh');
    const status = await call(app, 'GET', '/v1/events/demo/status', { token: alice.token });
    expect(status.status).toBe(401);
    expect(status.body.error.code).toBe('invalid_token');
    const admission = await call(app, 'POST', '/v1/events/demo/admission', { token: alice.token });
    expect(admission.status).toBe(401);
    const complete = await call(app, 'POST', '/v1/events/demo/complete', { token: claim.body.accessToken });
    expect(complete.status).toBe(401);

    // `demo` from scratch: nobody in line, the configuration from DEMO_*, not the operator's.
    const event = await call(app, 'GET', '/v1/events/demo');
    expect(event.body).toMatchObject({ state: 'open', issued: 0, servingPosition: 0 });
    const stats = await call(app, 'GET', '/v1/admin/events/demo/stats', { headers: admin });
    expect(stats.body).toMatchObject({ capacity: 4, active: 0 });
    const bob = await join(app, 'bob');
    expect(bob.position).toBe(1);
    // Alice joining again is a new place in the new queue, not her old one.
    expect((await join(app, 'alice')).position).toBe(2);
  });

  test('regression: with the default store a restart never lets two fans hold one place', async () => {
    // The in-memory default forgot the queue but kept the keys: after a restart the old
    // holder of position 1 still verified while the next join got position 1 again.
    const stateDir = newStateDir();
    let app = await start({ stateDir });
    const alice = await join(app, 'alice');
    expect(alice.position).toBe(1);
    await app.kill9();
    await expect(fetch(`${app.url}/v1/events/demo`)).rejects.toThrow();

    app = await start({ stateDir });
    const bob = await join(app, 'bob');
    const status = await call(app, 'GET', '/v1/events/demo/status', { token: alice.token });
    // Whatever else happens: if alice's token still verifies, her place is not bob's.
    if (status.status === 200) {
      expect(status.body.position, 'two fans hold one position').not.toBe(bob.position);
    }
    // And the default store keeps the queue: alice is still first, bob second.
    expect(status.status).toBe(200);
    expect(status.body.position).toBe(1);
    expect(bob.position).toBe(2);
  });

  test('a store that keeps nothing (FQ_STORE=memory) starts new keys too: old tokens get 401', async () => {
    const stateDir = newStateDir();
    const env = { FQ_STORE: 'memory' };
    let app = await start({ stateDir, env });
    const alice = await join(app, 'alice');
    await app.kill9();

    app = await start({ stateDir, env });
    expect(app.output()).toContain('started fresh');
    expect((await join(app, 'bob')).position).toBe(1);
    const status = await call(app, 'GET', '/v1/events/demo/status', { token: alice.token });
    expect(status.status).toBe(401);
  });
});
