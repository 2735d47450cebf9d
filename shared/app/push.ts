/**
 * Mobile push: device registration, and the worker that sends the milestones
 * a change makes due — `near`, `admitted`, `claim_expiring`, `closed` — each at
 * most once per place and device, finding whom to tell by range queries over
 * positions.
 */
import { deviceKey } from '#adapters/device-key';
import { EventNotFoundError, LeftError, PushUnavailableError, TooManyDevicesError } from '#domain/errors';
import type { EventRecord } from '#domain/event';
import {
  claimExpiringLead,
  DEFAULT_MAX_DEVICES_PER_PLACE,
  type Milestone,
  newlyNear,
  type Platform,
  pushContent,
} from '#domain/push';
import type { TokenService } from '#lib/token-service';
import { type Metrics, NO_METRICS } from '#ports/metrics';
import type { DeviceRecord, DeviceStore, PushGateway } from '#ports/push';
import type { QueueStore } from '#ports/queue-store';
import type { LineChange } from '#ports/realtime';
import { Line } from './line.ts';
import { eachLimited } from './pool.ts';

const LAST_POSITION = Number.MAX_SAFE_INTEGER;
/** Batches looked at per tick for `claim_expiring`; more wait for the next tick. */
const EXPIRING_BATCHES_PER_RUN = 50;
/** SNS publishes in flight at once per worker. */
const PUBLISH_CONCURRENCY = 32;

export interface PushDeps {
  readonly store: QueueStore;
  readonly devices: DeviceStore;
  /** Null: push is off here (no platform application configured). */
  readonly gateway: PushGateway | null;
  readonly tokens: TokenService;
  readonly now?: () => number;
  readonly onError?: (error: unknown, device: DeviceRecord) => void;
  /** PushSent and PushFailed of every worker run. */
  readonly metrics?: Metrics;
  /** Live registrations one place may hold; another device beyond it is refused (409). */
  readonly maxDevicesPerPlace?: number;
}

export interface PushRunResult {
  readonly sent: number;
  readonly skipped: number;
}

export class Push {
  readonly #deps: PushDeps;
  readonly #now: () => number;
  readonly #line: Line;

  constructor(deps: PushDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#line = new Line(deps.store, { cacheMs: 1000, now: this.#now });
  }

  get enabled(): boolean {
    return this.#deps.gateway !== null;
  }

  #nowSec() {
    return Math.floor(this.#now() / 1000);
  }

  async register(eventId: string, token: string, platform: Platform, deviceToken: string) {
    const { gateway, devices, store, tokens } = this.#deps;
    const claims = await tokens.verifyPosition(token, eventId);
    if (!gateway?.supports(platform)) throw new PushUnavailableError(platform);
    const event = await store.getEvent(eventId);
    if (!event) throw new EventNotFoundError(eventId);
    // A place given up gets no more pushes: registering for it would only make an endpoint.
    if (await store.hasLeft(eventId, claims.pos)) throw new LeftError();
    // Checked before SNS is asked for an endpoint: one token must not buy thousands of
    // endpoints and a publish to each at every milestone. A device already registered may
    // register again. Racing registrations may overshoot by a few; nothing more.
    const key = deviceKey(platform, deviceToken);
    const max = this.#deps.maxDevicesPerPlace ?? DEFAULT_MAX_DEVICES_PER_PLACE;
    const live = await devices.devicesInRange(eventId, claims.pos, claims.pos);
    if (live.length >= max && !live.some((d) => d.deviceKey === key)) throw new TooManyDevicesError(max);
    const device: DeviceRecord = {
      eventId,
      position: claims.pos,
      platform,
      deviceToken,
      endpoint: await gateway.registerDevice(platform, deviceToken),
      deviceKey: key,
    };
    const { created } = await devices.putDevice(device, this.#nowSec());
    await this.#catchUp(device);
    return { eventId, position: claims.pos, platform, created };
  }

  /**
   * What a new registration has already missed. Read after the registration is
   * stored (consistently): a tick that moved the line before the worker could see
   * the device is seen here instead, and one after it is seen by the worker;
   * `markSent` keeps the overlap from sending anything twice.
   */
  async #catchUp(device: DeviceRecord) {
    const { store } = this.#deps;
    const event = await store.getEvent(device.eventId, { consistent: true });
    if (!event) return;
    const ahead = await this.#line.ahead(event, device.position);
    if (ahead > 0) {
      if (event.state === 'closed') await this.#deliver(device, 'closed');
      else if (ahead <= event.config.nearThreshold) await this.#deliver(device, 'near', { ahead });
      return;
    }
    const [batch, session] = await Promise.all([
      store.findBatch(device.eventId, device.position),
      store.getSession(device.eventId, device.position),
    ]);
    if (batch && !session && this.#nowSec() < batch.claimBy) await this.#deliver(device, 'admitted');
  }

  async #deliver(
    device: DeviceRecord,
    milestone: Milestone,
    extras: { ahead?: number; secondsLeft?: number } = {},
    failures: unknown[] = [],
  ) {
    const gateway = this.#deps.gateway;
    if (!gateway) return false;
    // A place given up hears nothing more (its number may lie inside an admitted range).
    if (await this.#deps.store.hasLeft(device.eventId, device.position)) return false;
    // Recorded before sending: a repeated or overlapping tick can never send it twice.
    if (!(await this.#deps.devices.markSent(device, milestone))) return false;
    try {
      const content = pushContent({
        eventId: device.eventId,
        position: device.position,
        milestone,
        ...extras,
      });
      const outcome = await gateway.send(device.endpoint, device.platform, device.deviceToken, content);
      if (outcome === 'gone') {
        // Uninstalled or disabled: not delivered, and never tried again (the mark stays, and
        // the device drops out of every range query until it registers again).
        await this.#deps.devices.markGone(device, this.#nowSec());
        return false;
      }
      return true;
    } catch (error) {
      // Not sent: take the mark back and fail the run, so the worker's retry sends it.
      this.#deps.onError?.(error, device);
      await this.#deps.devices.unmarkSent(device, milestone);
      failures.push(error);
      return false;
    }
  }

  async #deliverAll(
    devices: readonly DeviceRecord[],
    milestone: Milestone,
    failures: unknown[],
    extras: (d: DeviceRecord) => object = () => ({}),
  ) {
    let sent = 0;
    // In parallel, bounded: closing a sale with many registered phones must finish within the worker's time.
    await eachLimited(devices, PUBLISH_CONCURRENCY, async (device) => {
      if (await this.#deliver(device, milestone, extras(device), failures)) sent++;
    });
    return sent;
  }

  /**
   * Positions that came within `nearThreshold` real places of the front with this move:
   * on a line without void numbers a plain range; otherwise the real places are counted.
   */
  async #newlyNear(event: EventRecord, from: number, to: number): Promise<{ lo: number; hi: number } | null> {
    const threshold = event.config.nearThreshold;
    if (threshold <= 0) return null;
    const issued = await this.#deps.store.getIssued(event.eventId);
    const edge = async (serving: number) => {
      const { positions } = await this.#line.realPlacesAfter(
        { ...event, servingPosition: serving },
        issued,
        threshold,
        { fence: false },
      );
      return positions[positions.length - 1] ?? serving;
    };
    if (event.config.intake === 'exact' && issued >= to + threshold) {
      const leaves = await this.#line.leavesBetween(event.eventId, from, to + threshold);
      if (leaves === 0) return newlyNear(from, to, threshold);
    }
    const [before, now] = await Promise.all([edge(from), edge(to)]);
    const lo = Math.max(before, to) + 1;
    return lo <= now ? { lo, hi: now } : null;
  }

  /** The push worker: what the changes of one tick (or an operator action) make due. */
  async run(changes: readonly LineChange[]): Promise<PushRunResult> {
    if (!this.enabled) return { sent: 0, skipped: changes.length };
    const failures: unknown[] = [];
    const result = await this.#run(changes, failures);
    const metrics = this.#deps.metrics ?? NO_METRICS;
    metrics.record('PushSent', result.sent);
    metrics.record('PushFailed', failures.length);
    if (failures.length > 0) {
      throw new AggregateError(failures, `${failures.length} push(es) failed; the retry sends them`);
    }
    return result;
  }

  async #run(changes: readonly LineChange[], failures: unknown[]): Promise<PushRunResult> {
    const { devices, store } = this.#deps;
    let sent = 0;
    let skipped = 0;
    const events = new Map<string, EventRecord | undefined>();
    for (const change of changes) {
      if (!(await devices.hasDevices(change.eventId))) {
        skipped++;
        continue;
      }
      if (!events.has(change.eventId)) {
        // Consistent: `closed` must not reach places admitted a moment ago.
        events.set(change.eventId, await store.getEvent(change.eventId, { consistent: true }));
      }
      const event = events.get(change.eventId);
      if (!event) continue;
      const { eventId } = change;
      if (change.kind === 'moved') {
        sent += await this.#deliverAll(
          await devices.devicesInRange(eventId, change.from + 1, change.to),
          'admitted',
          failures,
        );
        const near = await this.#newlyNear(event, change.from, change.to);
        if (near) {
          const line = this.#line;
          const after = { ...event, servingPosition: change.to };
          const nearDevices = await devices.devicesInRange(eventId, near.lo, near.hi);
          const aheadOf = new Map<number, number>();
          for (const d of nearDevices)
            if (!aheadOf.has(d.position)) aheadOf.set(d.position, await line.ahead(after, d.position));
          sent += await this.#deliverAll(nearDevices, 'near', failures, (d) => ({
            ahead: aheadOf.get(d.position) ?? 0,
          }));
        }
      } else if (change.kind === 'state' && change.state === 'closed') {
        // Only places not yet admitted: admitted ones keep their claim window.
        sent += await this.#deliverAll(
          await devices.devicesInRange(eventId, event.servingPosition + 1, LAST_POSITION),
          'closed',
          failures,
        );
      } else if (change.kind === 'tick') {
        sent += await this.#claimExpiring(event, failures);
      }
    }
    return { sent, skipped };
  }

  /**
   * Batches whose claim deadline is within the lead time: their places that have
   * not claimed get `claim_expiring`. A cursor, moved by conditional write only after
   * a batch's sends have all gone out, marks the batches that are done: a failed send
   * leaves the cursor where it was, so the retried run comes back to the batch (and the
   * per-device marks keep anything from going twice, whichever worker gets there).
   */
  async #claimExpiring(event: EventRecord, failures: unknown[]): Promise<number> {
    const { devices, store } = this.#deps;
    const nowSec = this.#nowSec();
    const lead = claimExpiringLead(event.config.claimWindowSeconds);
    let cursor = await devices.getExpiringCursor(event.eventId);
    let sent = 0;
    for (const batch of await store.batchesAfter(event.eventId, cursor, EXPIRING_BATCHES_PER_RUN)) {
      if (nowSec < batch.claimBy - lead) break; // later batches are due later still
      // Past its deadline a batch needs no warning any more: it is only stepped over.
      if (nowSec < batch.claimBy) {
        const batchFailures: unknown[] = [];
        for (const device of await devices.devicesInRange(event.eventId, batch.from + 1, batch.to)) {
          if (await store.getSession(event.eventId, device.position)) continue;
          const extras = { secondsLeft: batch.claimBy - nowSec };
          if (await this.#deliver(device, 'claim_expiring', extras, batchFailures)) sent++;
        }
        if (batchFailures.length > 0) {
          failures.push(...batchFailures);
          break; // the cursor stays before this batch: the retry sends what failed
        }
      }
      if (!(await devices.advanceExpiringCursor(event.eventId, cursor, batch.to))) break;
      cursor = batch.to;
    }
    return sent;
  }
}
