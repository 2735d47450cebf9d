/**
 * The waiting model (issue 8, scenario `waiting`): how the sampled fans wait once they hold
 * a place, through the real code, and what they see.
 *
 * - **WebSocket fans** open a connection through the real `$connect` (`Connections.connect`,
 *   as functions/ws-connect.ts runs it) into the real DynamoDB connection registry, within
 *   the account's new connections a second and the WebSocket stage's throttle. A refused or
 *   dropped socket falls back to status polls at the server's pace and is tried again with
 *   backoff. Connections close after `maxConnectionSeconds` (API Gateway's 2 hours) or
 *   `idleTimeoutSeconds` without a message either way; the client pings (`$default`, the
 *   real `Connections.message`, answered with a pong) as the scenario says.
 * - Every change the admitter hands its notifier goes to the real `Fanout`, one
 *   asynchronous worker invocation per shard. The registry holds the sampled connections
 *   only, so the worker is given `messagesPerSecond × share`: its plan for the sample is
 *   the plan for the crowd. What the sample hides is scaled back in: each listed connection
 *   and each post stands for `weight` in DynamoDB's units, in the account's quota and in the
 *   worker's CPU and time (per connection and per message, on its vCPU share), and a
 *   per-connection read takes `weight` times as long in its lane.
 * - **Polling fans** read status at the server's `pollAfterSeconds` (real `room.status`).
 * - **Backgrounded fans** are pages the browser suspended: hidden (no requests) and visible
 *   in turn; visible they poll, and on coming back read the document and their status if
 *   it is due.
 * - Every visible fan reads the public document through CloudFront (cdn.ts) at the
 *   document's `pollAfterSeconds`, and shows what the page's own client core shows: each
 *   page holds a `PlaceClock` (shared/client) that applies the join answer, status answers,
 *   `position` messages and documents, and `shownAhead` rounds it for display (decision
 *   0013).
 * - Staleness (staleness.ts) is sampled for every tracked fan that is visible and waiting,
 *   of the count as the page shows it (rounded beyond a thousand) and of its exact count;
 *   `admitted` latency from the tick's commit to the first of the WebSocket message, a
 *   status answer or a document whose serving position passed the fan.
 */
import { gzipSync } from 'node:zlib';
import { DynamoConnectionRegistry } from '#adapters/dynamo-connections';
import { DynamoQueueStore } from '#adapters/dynamo-store';
import { type DocumentClient, DynamoTable } from '#adapters/dynamo-table';
import { Connections } from '#app/connections';
import { Fanout } from '#app/fanout';
import { lowestShownAs, shownAhead } from '#client/display';
import { LIVE_STATUS_SECONDS, readPlan } from '#client/pacing';
import { PlaceClock } from '#client/place-clock';
import { type EventDocument, readEventDocument, readPlaceUpdate, readServerMessage } from '#client/wire';
import {
  DEFAULT_MAX_CONNECTIONS_PER_PLACE,
  DEFAULT_MAX_MESSAGES_PER_MINUTE,
} from '#domain/connection-limits';
import { FairqueueError } from '#domain/errors';
import { leaveBlockOf } from '#domain/intake';
import type { TokenService } from '#lib/token-service';
import type { QueueStore } from '#ports/queue-store';
import type { ConnectionPoster, ConnectionRegistry, LineChange } from '#ports/realtime';
import type { ApiGatewayModel, ApiLimit } from './api-gateway.ts';
import { Cdn, type Fetched } from './cdn.ts';
import type { Container, LambdaModel } from './lambda.ts';
import { type Random, sampler } from './random.ts';
import type { FunctionName, Scenario, WaitingScenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';
import { SecondsHistogram, TruthTracker } from './staleness.ts';

/** One full vCPU at 1,769 MB; Lambda gives CPU in proportion to memory. */
const MB_PER_VCPU = 1769;
/** Async invocations refused for concurrency are retried by Lambda; here after this long. */
const ASYNC_RETRY_MS = 1000;
/** Throttled `@connections` calls: the SDK's 3 attempts, full jitter on this base. */
const POST_ATTEMPTS = 3;
const POST_RETRY_BASE_MS = 1000;
const PING = '{"type":"ping"}';
/** From a join until its slice is sealed (1 s slices, 1 s grace), with room to spare. */
const SETTLED_AFTER_JOIN_MS = 3000;
/**
 * From a join until the server's `ahead` for it is exact: its slice is settled at the
 * admitter's first tick after it is sealed (5 s ticks). Answers before are estimates.
 */
const EXACT_AFTER_JOIN_MS = 8000;

export interface RealtimeRuntime {
  readonly fanout: Fanout | null;
  readonly connections: Connections;
  /** The worker's CPU (its event loop is serial), reset by each job. */
  readonly cpu: WorkerCpu;
}

/**
 * A fan-out job's CPU: busy until this virtual ms. Placing the listed connections (their
 * place, estimate and tier) comes after the admissions are told and before any `position`
 * message, so it is charged at the first of those (or when the job ends).
 */
interface WorkerCpu {
  busyUntil: number;
  /** CPU ms of placing the connections listed so far, not charged yet. */
  placing: number;
}

/** What a Lambda environment's runtime builder hands the waiting model. */
export interface RuntimeTools {
  readonly table: string;
  readonly sleep: (ms: number) => Promise<void>;
  /** A document client in this environment; `weight` overrides the invocation's. */
  readonly client: (weight?: number) => DocumentClient;
}

type Answer<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: string;
      readonly retryAfterSeconds: number;
    };

interface RuntimeLike {
  readonly room: {
    status(eventId: string, token: string): Promise<StatusAnswer>;
    publicEvent(eventId: string): Promise<PublicDocument>;
  };
  readonly realtime: RealtimeRuntime | null;
}

interface StatusAnswer {
  readonly status: string;
  readonly ahead: number;
  readonly admittedTotal: number;
  readonly seq: number;
  readonly token: string;
  readonly pollAfterSeconds: number;
}

/** A join answer, as the page reads it. */
interface JoinAnswer {
  readonly token: string;
  readonly pollAfterSeconds: number;
}

interface PublicDocument {
  readonly servingPosition: number;
  readonly admittedTotal: number;
  readonly pollAfterSeconds: number;
  readonly admitRatePerMinute: number;
}

export interface WaitingHost<R extends RuntimeLike> {
  readonly scenario: Scenario;
  readonly waiting: WaitingScenario;
  readonly scheduler: Scheduler;
  readonly lambda: LambdaModel<R>;
  readonly apiGateway: ApiGatewayModel;
  readonly tokens: TokenService;
  readonly eventId: string;
  /** Fans each sampled client stands for. */
  readonly weight: number;
  readonly saleStartMs: number;
  readonly random: Random;
  readonly request: <T>(
    route: FunctionName,
    weight: number,
    call: (runtime: R) => Promise<T>,
  ) => Promise<Answer<T>>;
  readonly fans: {
    readonly acceptedAt: Float64Array;
    readonly position: Float64Array;
    readonly admittedAt: Float64Array;
    readonly leftAt: Float64Array;
  };
  /** When the last fan of the crowd arrives (virtual ms after the start). */
  readonly lastArrivalMs: number;
}

type Kind = 'webSocket' | 'polling' | 'backgrounded';
type Knew = 'webSocket' | 'status' | 'document';

interface Connection {
  readonly id: string;
  readonly client: Client;
  readonly openedAt: number;
  lastActivity: number;
  open: boolean;
}

interface Client {
  readonly fan: number;
  readonly kind: Kind;
  readonly edge: number;
  readonly position: number;
  token: string;
  /** The page's client core: what it shows. */
  readonly clock: PlaceClock;
  /** Places admitted a second, as the document last said. */
  pace: number;
  pollAfter: number;
  lastStatusAt: number;
  statusRefusals: number;
  /** Generation of the status and document loops: a newer one cancels an older timer. */
  pollGen: number;
  pollPending: boolean;
  docGen: number;
  visible: boolean;
  gone: boolean;
  admittedAtMs: number;
  modeAtAdmission: Kind | 'hidden' | null;
  knewAt: number;
  conn: Connection | null;
  connecting: boolean;
  socketFailures: number;
  connectAttempts: number;
  tracked: boolean;
  /**
   * Whether the page's last personal update was made once the server's `ahead` for the place
   * was exact (its slice settled); the log's length at its last update.
   */
  updated: boolean;
  joinedAt: number;
  logAtUpdate: number;
  /** Leaves ahead since tracking began less those the page knew of at its last update. */
  leavesKnown: number;
  /** The log's length once the place's own slice was settled, and when. */
  floor: number;
  floorAt: number;
}

/** A `@connections` call refused by the account's quota after the SDK's retries. */
class ThrottledPostError extends Error {
  override readonly name = 'TooManyRequestsException';
}

export interface WaitingRecord {
  readonly trackFromMs: number;
  readonly measureFromMs: number;
  readonly untilMs: number;
  readonly bands: readonly {
    readonly label: string;
    /** Staleness of the count as the page shows it (rounded beyond a thousand: `shownAhead`). */
    readonly histogram: SecondsHistogram;
    /** The same samples, of the page's exact count (before rounding). */
    readonly exactCount: SecondsHistogram;
    /** The same samples by how the fan waits. */
    readonly byMode: Record<Kind, SecondsHistogram>;
    /** Samples of pages whose last personal update was exact (made once the place's slice was settled). */
    readonly afterExactUpdate: SecondsHistogram;
    /** Samples of pages still counting down from an estimate (their last update came before). */
    onEstimate: number;
    /**
     * Samples staler than 10 s, by why: the page still counts down from an estimate; the
     * places its exact count shows too many are no more than the leaves ahead since its last
     * personal update (its own leave block's, which the document does not place); anything
     * else (the document's and updates' own lag).
     */
    readonly over10s: { estimateNeverCorrected: number; leavesSinceUpdate: number; other: number };
    lowerBounds: number;
  }[];
  /** Per band: samples where the page showed less than the truth (an `ahead` too small). */
  readonly belowTruth: number[];
  readonly admittedLatency: Record<Kind | 'hidden', SecondsHistogram>;
  readonly admittedUnknown: Record<Kind | 'hidden', number>;
  readonly knewBy: Record<Knew, number>;
  readonly clients: Record<Kind, number>;
  tracked: number;
  readonly counts: {
    connectAttempts: number;
    connectsRefused: Record<string, number>;
    connectsOpened: number;
    closes: Record<string, number>;
    pings: number;
    pingsRefused: number;
    postsFailed: number;
    fanoutJobs: number;
    fanoutThrottledRetries: number;
    fanoutSent: number;
    fanoutFailed: number;
    fanoutSuperseded: number;
    fanoutOverloaded: number;
    statusPolls: number;
    statusRefused: number;
    documentReads: number;
    documentErrors: number;
    serverAheadAboveTruth: number;
    serverAheadChecks: number;
  };
  /** Bytes of a status answer, and of the public document as CloudFront sends it (gzip) and before. */
  readonly bytes: { status: number; document: number; documentUncompressed: number };
  /** Per-second samples: open connections (real), staleness p99 over the second's samples per band. */
  readonly openConnections: number[];
  readonly stalenessSeries: number[][];
}

export class WaitingModel<R extends RuntimeLike> {
  readonly #host: WaitingHost<R>;
  readonly #config: WaitingScenario;
  readonly #random: Random;
  readonly #clients = new Map<number, Client>();
  readonly #connections = new Map<string, Connection>();
  readonly #cdn: Cdn<PublicDocument>;
  readonly #draw: Readonly<
    Record<'dispatch' | 'post' | 'delivery' | 'viewer' | 'hidden' | 'visible' | 'jitter', () => number>
  >;
  /** Logs every admission and leave from the start; follows the tracked places once the line is full. */
  readonly #tracker = new TruthTracker();
  /** The same, for the page's exact count (before it is rounded for display). */
  readonly #exactTracker = new TruthTracker();
  /** Documents read by the pages, as the client core reads them (one parse per document fetched). */
  readonly #documents = new WeakMap<object, EventDocument | null>();
  #openWeight = 0;
  /** Past the horizon: the pages start nothing new. */
  #stopped = false;
  readonly record: WaitingRecord;

  constructor(host: WaitingHost<R>) {
    this.#host = host;
    this.#config = host.waiting;
    this.#random = host.random;
    const r = this.#random;
    const c = this.#config;
    this.#draw = {
      dispatch: sampler(c.webSocket.dispatchMs, r.fork('dispatch')),
      post: sampler(c.webSocket.postMs, r.fork('post')),
      delivery: sampler(c.webSocket.deliveryMs, r.fork('delivery')),
      viewer: sampler(c.cdn.viewerMs, r.fork('viewer')),
      hidden: sampler(c.backgrounded.hiddenSeconds, r.fork('hidden')),
      visible: sampler(c.backgrounded.visibleSeconds, r.fork('visible')),
      jitter: (() => {
        const j = r.fork('jitter');
        return () => j.next();
      })(),
    };
    this.#cdn = new Cdn<PublicDocument>(
      c.cdn,
      host.scheduler,
      r.fork('cdn'),
      () => this.#origin(),
      host.apiGateway.meter,
    );
    const measureFromMs = c.measureFromSeconds * 1000;
    const bandLabels = [
      ...c.staleness.bands.map((b) => `≤${b.toLocaleString('en-US')}`),
      `>${(c.staleness.bands[c.staleness.bands.length - 1] ?? 0).toLocaleString('en-US')}`,
    ];
    const histograms = () => ({
      webSocket: new SecondsHistogram(600),
      polling: new SecondsHistogram(600),
      backgrounded: new SecondsHistogram(600),
      hidden: new SecondsHistogram(600),
    });
    this.record = {
      trackFromMs: Math.min(measureFromMs, host.lastArrivalMs + 30_000),
      measureFromMs,
      untilMs: host.scenario.durationSeconds * 1000,
      bands: bandLabels.map((label) => ({
        label,
        histogram: new SecondsHistogram(7200),
        exactCount: new SecondsHistogram(7200),
        byMode: {
          webSocket: new SecondsHistogram(3600),
          polling: new SecondsHistogram(3600),
          backgrounded: new SecondsHistogram(3600),
        },
        afterExactUpdate: new SecondsHistogram(7200),
        onEstimate: 0,
        over10s: { estimateNeverCorrected: 0, leavesSinceUpdate: 0, other: 0 },
        lowerBounds: 0,
      })),
      belowTruth: bandLabels.map(() => 0),
      admittedLatency: histograms(),
      admittedUnknown: { webSocket: 0, polling: 0, backgrounded: 0, hidden: 0 },
      knewBy: { webSocket: 0, status: 0, document: 0 },
      clients: { webSocket: 0, polling: 0, backgrounded: 0 },
      tracked: 0,
      counts: {
        connectAttempts: 0,
        connectsRefused: {},
        connectsOpened: 0,
        closes: {},
        pings: 0,
        pingsRefused: 0,
        postsFailed: 0,
        fanoutJobs: 0,
        fanoutThrottledRetries: 0,
        fanoutSent: 0,
        fanoutFailed: 0,
        fanoutSuperseded: 0,
        fanoutOverloaded: 0,
        statusPolls: 0,
        statusRefused: 0,
        documentReads: 0,
        documentErrors: 0,
        serverAheadAboveTruth: 0,
        serverAheadChecks: 0,
      },
      bytes: { status: 0, document: 0, documentUncompressed: 0 },
      openConnections: [],
      stalenessSeries: bandLabels.map(() => []),
    };
  }

  get #now(): number {
    return this.#host.scheduler.now();
  }

  /** Virtual ms since the sale's start. */
  get #at(): number {
    return this.#now - this.#host.saleStartMs;
  }

  #after(ms: number, run: () => void) {
    this.#host.scheduler.after(ms, run);
  }

  #bump(record: Record<string, number>, key: string, by: number) {
    record[key] = (record[key] ?? 0) + by;
  }

  // --- the Lambda side -------------------------------------------------------------------

  /**
   * What a realtime function's environment builds at INIT: the fan-out worker (with the
   * sampled connections scaled back to the crowd) or the WebSocket routes' `Connections`.
   */
  runtimeFor(container: Container<R>, tools: RuntimeTools): RealtimeRuntime {
    const host = this.#host;
    const ws = this.#config.webSocket;
    const cpu: WorkerCpu = { busyUntil: 0, placing: 0 };
    const now = host.scheduler.now;
    const table = (client: DocumentClient) => new DynamoTable(client, tools.table, { sleep: tools.sleep });
    const limits = {
      maxConnectionsPerPlace: DEFAULT_MAX_CONNECTIONS_PER_PLACE,
      maxMessagesPerMinute: DEFAULT_MAX_MESSAGES_PER_MINUTE,
    };
    if (container.fn !== 'fanout') {
      const t = table(tools.client());
      const registry = new DynamoConnectionRegistry(t, tools.table, ws.shards, now);
      const connections = new Connections({
        store: new DynamoQueueStore(t),
        registry,
        tokens: host.tokens,
        poster: new SimPoster(this, null, tools.sleep),
        limits,
        now,
      });
      return { fanout: null, connections, cpu };
    }
    const memoryMb = host.scenario.lambda.memoryMbByFunction.fanout ?? host.scenario.lambda.memoryMb;
    const vcpu = Math.min(1, memoryMb / MB_PER_VCPU);
    const w = host.weight;
    // Per job (weight 1): the event, the cursor. Per connection (weight w): the registry's
    // pages and each place's own leave read.
    const one = table(tools.client(1));
    const many = table(tools.client(w));
    const store1 = new DynamoQueueStore(one);
    const storeW = new DynamoQueueStore(many);
    const registry1 = new DynamoConnectionRegistry(one, tools.table, ws.shards, now);
    const registryW = new DynamoConnectionRegistry(many, tools.table, ws.shards, now);
    const stretch = async <T>(work: () => Promise<T>, factor: number): Promise<T> => {
      const started = host.scheduler.now();
      const value = await work();
      const took = host.scheduler.now() - started;
      if (factor > 1 && took > 0) await tools.sleep(took * (factor - 1));
      return value;
    };
    const job = { servingBlock: -1 };
    const store = forward<QueueStore>(store1, {
      getEvent: async (...args: Parameters<QueueStore['getEvent']>) => {
        const event = await store1.getEvent(...args);
        if (event) job.servingBlock = leaveBlockOf(event.servingPosition + 1);
        return event;
      },
      // A told place's own block: each sampled one stands for `w` read one after another in
      // the lane (they rarely share a block). The serving position's block is read once a job.
      leavesIn: (...args: Parameters<QueueStore['leavesIn']>) =>
        leaveBlockOf(args[1] + 1) === job.servingBlock
          ? store1.leavesIn(...args)
          : stretch(() => storeW.leavesIn(...args), w),
    });
    const registry = forward<ConnectionRegistry>(registry1, {
      listShard: async (eventId: string, shard: number, cursor?: string) => {
        const started = host.scheduler.now();
        const page = await registryW.listShard(eventId, shard, cursor);
        const took = host.scheduler.now() - started;
        // Reading each listed connection now, placing it later, on the worker's CPU.
        cpu.busyUntil =
          Math.max(cpu.busyUntil, host.scheduler.now()) +
          (page.items.length * w * ws.cpuMsPerListedConnection) / vcpu;
        cpu.placing += (page.items.length * w * ws.cpuMsPerPlacedConnection) / vcpu;
        // The crowd's pages are read one after another: w times as many items, 1,000 a page.
        const pages = Math.max(1, Math.ceil((page.items.length * w) / 1000));
        if (pages > 1) await tools.sleep(took * (pages - 1));
        return page;
      },
      remove: (connectionId: string) => registryW.remove(connectionId),
    });
    const fanout = new Fanout({
      store,
      registry,
      poster: new SimPoster(this, { cpu, msPerMessage: (ws.cpuMsPerMessage * w) / vcpu }, tools.sleep),
      tokens: host.tokens,
      concurrency: ws.concurrency,
      now,
      tickSeconds: host.scenario.admitter.tickSeconds,
      shards: ws.shards,
      // The sample's plan is the crowd's: the budget shrinks with the sample, and so does
      // the size of a round that is spread over the tick.
      messagesPerSecond: ws.messagesPerSecond / w,
      spreadFromMessages: 256 / w,
      nearHorizonSeconds: ws.nearHorizonSeconds,
      sleep: tools.sleep,
      onError: () => {
        this.record.counts.postsFailed += w;
      },
    });
    const connections = new Connections({
      store: store1,
      registry: registry1,
      tokens: host.tokens,
      poster: null,
      limits,
      now,
    });
    return { fanout, connections, cpu };
  }

  /** The admitter's notifier: every moved line and change of state goes to every shard's worker. */
  changed(changes: readonly LineChange[]) {
    if (this.#stopped) return;
    for (const change of changes) {
      if (change.kind !== 'moved' && change.kind !== 'state') continue;
      for (let shard = 0; shard < this.#config.webSocket.shards; shard++)
        this.#after(this.#draw.dispatch(), () => void this.#fanout(change, shard, 0));
    }
  }

  async #fanout(change: LineChange, shard: number, attempt: number): Promise<void> {
    const host = this.#host;
    const counts = this.record.counts;
    counts.fanoutJobs++;
    const result = await host.lambda.invoke('fanout', 1, async (runtime, invocation) => {
      const realtime = runtime.realtime;
      if (!realtime?.fanout) throw new Error('the fan-out environment has no worker');
      realtime.cpu.busyUntil = host.scheduler.now();
      realtime.cpu.placing = 0;
      const outcome = await realtime.fanout.run(change, shard);
      // The worker returns once its CPU is done too.
      realtime.cpu.busyUntil = Math.max(realtime.cpu.busyUntil, host.scheduler.now()) + realtime.cpu.placing;
      realtime.cpu.placing = 0;
      const left = realtime.cpu.busyUntil - host.scheduler.now();
      if (left > 0) {
        invocation.block();
        await host.scheduler.sleep(left).finally(() => invocation.unblock());
      }
      return outcome;
    });
    if (result.kind === 'throttled') {
      counts.fanoutThrottledRetries++;
      if (attempt < 20) this.#after(ASYNC_RETRY_MS, () => void this.#fanout(change, shard, attempt + 1));
      return;
    }
    if (result.kind === 'error') {
      counts.fanoutFailed += host.weight;
      return;
    }
    const value = result.value;
    counts.fanoutSent += value.sent * host.weight;
    counts.fanoutFailed += value.failed * host.weight;
    if (value.superseded) counts.fanoutSuperseded++;
    if (value.overloaded) counts.fanoutOverloaded++;
  }

  // --- API Gateway's side of a connection -------------------------------------------------

  connection(id: string): Connection | undefined {
    return this.#connections.get(id);
  }

  /** A frame API Gateway accepted for a connection reaches its client a little later. */
  deliver(connection: Connection, data: string) {
    this.#host.apiGateway.meter.add(`messages:${messageType(data)}`, this.#now, this.#host.weight);
    this.#after(this.#draw.delivery(), () => this.#onMessage(connection, data));
  }

  /** The server closes a connection (DeleteConnection). */
  serverClose(connection: Connection) {
    this.#close(connection, 'server');
  }

  get postMs(): number {
    return this.#draw.post();
  }

  get jitter(): number {
    return this.#draw.jitter();
  }

  get host(): WaitingHost<R> {
    return this.#host;
  }

  // --- the crowd ---------------------------------------------------------------------------

  /** A sampled fan got its place: its client starts. */
  joined(fan: number, answer: JoinAnswer, abandonAtMs: number) {
    const shares = this.#config.shares;
    const pick = this.#random.next();
    const kind: Kind =
      pick < shares.webSocket
        ? 'webSocket'
        : pick < shares.webSocket + shares.polling
          ? 'polling'
          : 'backgrounded';
    const client: Client = {
      fan,
      kind,
      edge: Math.floor(this.#random.next() * this.#config.cdn.edgeLocations),
      position: this.#host.fans.position[fan] ?? 0,
      token: answer.token,
      clock: new PlaceClock({ position: this.#host.fans.position[fan] ?? 0 }),
      pace: 0,
      pollAfter: answer.pollAfterSeconds,
      lastStatusAt: this.#now,
      statusRefusals: 0,
      pollGen: 0,
      pollPending: false,
      docGen: 0,
      visible: true,
      gone: false,
      admittedAtMs: Number.NaN,
      modeAtAdmission: null,
      knewAt: Number.NaN,
      conn: null,
      connecting: false,
      socketFailures: 0,
      connectAttempts: 0,
      tracked: false,
      updated: false,
      joinedAt: this.#at,
      logAtUpdate: this.#tracker.logLength,
      leavesKnown: 0,
      floor: Number.MAX_SAFE_INTEGER,
      floorAt: Number.NaN,
    };
    // A sharded place's slice is sealed a second after it ends: nobody joins ahead after that.
    this.#after(SETTLED_AFTER_JOIN_MS, () => {
      client.floor = this.#tracker.logLength;
      client.floorAt = this.#at;
    });
    const update = readPlaceUpdate(answer);
    if (update) client.clock.applyUpdate(update, this.#now);
    this.#clients.set(fan, client);
    this.record.clients[kind]++;
    this.#readDocument(client, ++client.docGen);
    // As the page does: status at the join answer's pace (a sharded join's estimate is asked
    // again once its slice is settled), and for a WebSocket fan at once when the socket opens.
    this.#schedulePoll(client, client.pollAfter * 1000);
    if (kind === 'webSocket') void this.#connect(client);
    if (kind === 'backgrounded') this.#after(this.#draw.visible() * 1000, () => this.#hide(client));
    if (Number.isFinite(abandonAtMs))
      this.#host.scheduler.at(this.#host.saleStartMs + abandonAtMs, () => this.#leave(client, 'abandoned'));
  }

  /** A sampled fan gave its place up (`DELETE …/place` answered). */
  left(fan: number) {
    const client = this.#clients.get(fan);
    if (client) this.#leave(client, 'left');
  }

  /** Any waiting fan gave its place up: the places behind it lose one. */
  placeLeft(position: number) {
    this.#tracker.left(position, this.#at);
    this.#exactTracker.left(position, this.#at);
  }

  /** A batch admitted `places` places, these sampled fans among them, at the tick's commit. */
  admitted(places: number, fans: readonly number[]) {
    this.#tracker.admitted(places, this.#at);
    this.#exactTracker.admitted(places, this.#at);
    for (const fan of fans) {
      const client = this.#clients.get(fan);
      if (!client || client.gone) continue;
      client.admittedAtMs = this.#at;
      client.modeAtAdmission = !client.visible
        ? 'hidden'
        : client.conn?.open
          ? 'webSocket'
          : client.kind === 'webSocket'
            ? 'polling'
            : client.kind;
    }
  }

  #leave(client: Client, why: string) {
    if (client.gone) return;
    client.gone = true;
    this.#stopPolling(client);
    client.docGen++;
    if (client.conn) this.#close(client.conn, why);
  }

  // --- the document ------------------------------------------------------------------------

  async #origin(): Promise<Fetched<PublicDocument>> {
    const host = this.#host;
    const answer = await host.request('event', 1, (runtime) => runtime.room.publicEvent(host.eventId));
    if (!answer.ok) return { ok: false };
    // CloudFront compresses the document for a browser that accepts it (infra/edge.ts,
    // `compress` on its behaviour): what goes out is the gzip of the JSON (brotli, which
    // CloudFront prefers when asked, is smaller still).
    const json = JSON.stringify(answer.value);
    const bytes = gzipSync(json).length;
    this.record.bytes.document = bytes;
    this.record.bytes.documentUncompressed = json.length;
    return { ok: true, value: answer.value, bytes };
  }

  #readDocument(client: Client, gen: number) {
    void (async () => {
      if (this.#stopped || client.gone || !client.visible || gen !== client.docGen) return;
      this.record.counts.documentReads += this.#host.weight;
      const got = await this.#cdn.read(client.edge, this.#host.weight);
      if (gen !== client.docGen || client.gone) return;
      let next = 8;
      if (got.ok) {
        const doc = got.value;
        let read = this.#documents.get(doc);
        if (read === undefined) {
          read = readEventDocument(doc);
          this.#documents.set(doc, read);
        }
        if (read) client.clock.applyDocument(read, this.#now);
        // The page's pace (`readPlan`): the document's, faster near the front.
        next =
          readPlan({
            view: client.clock.view(this.#now),
            live: client.conn?.open === true,
            statusPollAfterSeconds: client.pollAfter,
            documentPollAfterSeconds: doc.pollAfterSeconds,
          }).documentSeconds ?? doc.pollAfterSeconds;
        client.pace = doc.admitRatePerMinute / 60;
        if (doc.servingPosition >= client.position) this.#knew(client, 'document');
      } else this.record.counts.documentErrors += this.#host.weight;
      if (!client.gone) this.#after(next * 1000, () => this.#readDocument(client, gen));
    })();
  }

  // --- status --------------------------------------------------------------------------------

  #polling(client: Client): boolean {
    return !client.gone && client.visible;
  }

  /** The page's pace (`readPlan`): the server's, and no faster than the backstop while the socket is live. */
  #statusDelayMs(client: Client): number {
    const pace = client.pollAfter;
    return (client.conn?.open ? Math.max(pace, LIVE_STATUS_SECONDS) : pace) * 1000;
  }

  #schedulePoll(client: Client, delayMs: number) {
    const gen = ++client.pollGen;
    client.pollPending = true;
    this.#after(Math.max(0, delayMs), () => {
      if (gen !== client.pollGen) return;
      client.pollPending = false;
      void this.#poll(client, gen);
    });
  }

  /** Cancels a pending status poll (the socket replaces it, or the page is hidden or gone). */
  #stopPolling(client: Client) {
    client.pollGen++;
    client.pollPending = false;
  }

  async #poll(client: Client, gen: number) {
    if (this.#stopped || !this.#polling(client)) return;
    const host = this.#host;
    const w = host.weight;
    this.record.counts.statusPolls += w;
    const answer = await host.request('status', w, (runtime) =>
      runtime.room.status(host.eventId, client.token),
    );
    if (gen !== client.pollGen || client.gone) return;
    if (!answer.ok) {
      this.record.counts.statusRefused += w;
      if (answer.status === 410) return this.#leave(client, 'left');
      // As the page does: no sooner than the pace it was given, later each time in a row.
      client.statusRefusals++;
      const pace = client.pollAfter * 1000 * 2 ** Math.min(client.statusRefusals - 1, 5);
      const retry = answer.retryAfterSeconds * 1000;
      this.#schedulePoll(client, Math.max(pace, retry) + this.jitter * 1000);
      return;
    }
    client.statusRefusals = 0;
    const status = answer.value;
    this.record.bytes.status = JSON.stringify(status).length;
    client.lastStatusAt = this.#now;
    client.pollAfter = status.pollAfterSeconds;
    client.token = status.token;
    if (status.status !== 'waiting') return this.#knew(client, 'status');
    this.#update(client, status.ahead, () => {
      const update = readPlaceUpdate(status);
      return update !== null && client.clock.applyUpdate(update, this.#now).applied;
    });
    this.#schedulePoll(client, this.#statusDelayMs(client));
  }

  /** A personal update (status answer or `position` message): what the page shows from now. */
  #update(client: Client, ahead: number, apply: () => boolean) {
    // The page ignores an update older than what it shows (its `seq`).
    if (!apply()) return;
    client.updated = this.#at >= client.joinedAt + EXACT_AFTER_JOIN_MS;
    client.logAtUpdate = this.#tracker.logLength;
    if (client.tracked) client.leavesKnown = this.#tracker.leavesAheadNow(client.fan);
    if (client.tracked) {
      const counts = this.record.counts;
      counts.serverAheadChecks++;
      if (ahead > this.#tracker.truth(client.fan)) counts.serverAheadAboveTruth++;
    }
  }

  /** The page's exact count of the places ahead (`PlaceClock`; shown rounded beyond a thousand). */
  shown(client: Client): number {
    return client.clock.view(this.#now).ahead ?? 1;
  }

  #knew(client: Client, how: Knew) {
    if (!Number.isNaN(client.knewAt)) return;
    if (Number.isNaN(client.admittedAtMs)) {
      // Known before the simulator's own record of the batch (same instant): take it now.
      client.admittedAtMs = this.#host.fans.admittedAt[client.fan] ?? this.#at;
      client.modeAtAdmission ??= client.conn?.open ? 'webSocket' : client.visible ? client.kind : 'hidden';
    }
    client.knewAt = this.#at;
    if (client.admittedAtMs >= this.record.measureFromMs && client.modeAtAdmission) {
      this.record.admittedLatency[client.modeAtAdmission].add((client.knewAt - client.admittedAtMs) / 1000);
      this.record.knewBy[how] += 1;
    }
    // The page goes on to claim: it reads nothing more here.
    this.#leave(client, 'admitted');
  }

  // --- backgrounded pages -----------------------------------------------------------------

  #hide(client: Client) {
    if (client.gone) return;
    client.visible = false;
    this.#stopPolling(client);
    client.docGen++;
    this.#after(this.#draw.hidden() * 1000, () => this.#show(client));
  }

  #show(client: Client) {
    if (client.gone) return;
    client.visible = true;
    this.#readDocument(client, ++client.docGen);
    const due = client.lastStatusAt + client.pollAfter * 1000 - this.#now;
    this.#schedulePoll(client, Math.max(0, due));
    this.#after(this.#draw.visible() * 1000, () => this.#hide(client));
  }

  // --- the socket ------------------------------------------------------------------------------

  /** A client request on the WebSocket API: the stage and account (and, connecting, the connects quota), then Lambda. */
  async #wsRequest<T>(
    route: '$connect' | '$default',
    fn: FunctionName,
    call: (runtime: R) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; why: string }> {
    const host = this.#host;
    const w = host.weight;
    const limit: ApiLimit | null = host.apiGateway.admitWebSocket(route, w, this.#now, route === '$connect');
    if (limit) return { ok: false, why: limit };
    const result = await host.lambda.invoke(fn, w, call);
    if (result.kind === 'throttled') return { ok: false, why: `lambda ${result.reason}` };
    if (result.kind === 'error') {
      const error = result.error;
      return { ok: false, why: error instanceof FairqueueError ? error.code : String((error as Error).name) };
    }
    return { ok: true, value: result.value };
  }

  async #connect(client: Client) {
    if (this.#stopped || client.gone || client.conn || client.connecting) return;
    const counts = this.record.counts;
    client.connecting = true;
    counts.connectAttempts += this.#host.weight;
    const id = `c${client.fan}x${++client.connectAttempts}`;
    const handshake = this.#draw.viewer();
    await this.#host.scheduler.sleep(handshake / 2);
    const answer = await this.#wsRequest('$connect', 'wsConnect', (runtime) => {
      if (!runtime.realtime) throw new Error('no realtime runtime');
      return runtime.realtime.connections.connect(id, client.token);
    });
    await this.#host.scheduler.sleep(handshake / 2);
    client.connecting = false;
    if (!answer.ok) {
      this.#bump(counts.connectsRefused, answer.why, this.#host.weight);
      if (client.gone) return;
      client.socketFailures++;
      // Polls while the socket is refused, and tries it again later.
      this.#fallBack(client);
      const ws = this.#config.webSocket;
      const backoff =
        Math.min(ws.reconnectMaxSeconds, ws.reconnectBaseSeconds * 2 ** (client.socketFailures - 1)) *
        (0.5 + this.jitter);
      // Far back, no sooner than the page's wait comes within reach (past overload only the
      // places near the front may connect), and at most this far apart.
      const untilNear =
        client.pace > 0 ? (this.shown(client) - client.pace * ws.retryWithinWaitSeconds) / client.pace : 0;
      const delay = Math.min(ws.retryFarSeconds * (0.75 + 0.5 * this.jitter), Math.max(backoff, untilNear));
      this.#after(delay * 1000, () => void this.#connect(client));
      return;
    }
    counts.connectsOpened += this.#host.weight;
    if (client.gone) {
      // Gave up while connecting: the page closes what it opened.
      const connection: Connection = { id, client, openedAt: this.#now, lastActivity: this.#now, open: true };
      this.#connections.set(id, connection);
      this.#openWeight += this.#host.weight;
      this.#close(connection, 'gone while connecting');
      return;
    }
    client.socketFailures = 0;
    const connection: Connection = { id, client, openedAt: this.#now, lastActivity: this.#now, open: true };
    client.conn = connection;
    this.#connections.set(id, connection);
    this.#openWeight += this.#host.weight;
    // As the page does: nothing is sent on connect, so it asks its status at once unless its
    // last answer is that fresh; then only as a backstop while the socket is live (at least
    // every 30 s apart).
    if (this.#now - client.lastStatusAt >= LIVE_STATUS_SECONDS * 1000) this.#schedulePoll(client, 0);
    else if (!client.pollPending)
      this.#schedulePoll(client, client.lastStatusAt + this.#statusDelayMs(client) - this.#now);
    const ws = this.#config.webSocket;
    this.#after(ws.maxConnectionSeconds * 1000, () => this.#close(connection, 'two hours'));
    this.#watchIdle(connection);
    this.#heartbeat(connection);
  }

  /** Status polls while the socket is not there, due at the pace last given (unless already due). */
  #fallBack(client: Client) {
    if (client.pollPending) return;
    const due = client.lastStatusAt + client.pollAfter * 1000 - this.#now;
    this.#schedulePoll(client, Math.max(0, due));
  }

  #watchIdle(connection: Connection) {
    const idleMs = this.#config.webSocket.idleTimeoutSeconds * 1000;
    this.#after(connection.lastActivity + idleMs - this.#now, () => {
      if (this.#stopped || !connection.open) return;
      if (this.#now - connection.lastActivity >= idleMs) this.#close(connection, 'idle');
      else this.#watchIdle(connection);
    });
  }

  #heartbeat(connection: Connection) {
    const { everySeconds, whenIdle } = this.#config.webSocket.heartbeat;
    // Pages do not ping in step: ±10 %.
    const everyMs = everySeconds * 1000 * (0.9 + 0.2 * this.jitter);
    const nextAt = whenIdle ? connection.lastActivity + everyMs : this.#now + everyMs;
    // Never at the same instant again: a ping in flight has already counted as traffic.
    this.#after(Math.max(1000, nextAt - this.#now), () => {
      if (this.#stopped || !connection.open) return;
      if (!whenIdle || this.#now - connection.lastActivity >= everyMs) void this.#ping(connection);
      this.#heartbeat(connection);
    });
  }

  async #ping(connection: Connection) {
    const counts = this.record.counts;
    counts.pings += this.#host.weight;
    // A frame sent is traffic on the socket at once, answered or throttled (API Gateway
    // answers a throttled one with an error frame): it keeps the connection from going idle
    // all the same (an assumption).
    connection.lastActivity = Math.max(connection.lastActivity, this.#now);
    const answer = await this.#wsRequest('$default', 'wsMessage', (runtime) => {
      if (!runtime.realtime) throw new Error('no realtime runtime');
      return runtime.realtime.connections.message(connection.id, PING);
    });
    if (!answer.ok) counts.pingsRefused += this.#host.weight;
  }

  #close(connection: Connection, why: string) {
    if (!connection.open) return;
    connection.open = false;
    this.#connections.delete(connection.id);
    this.#openWeight -= this.#host.weight;
    this.#bump(this.record.counts.closes, why, this.#host.weight);
    const client = connection.client;
    if (client.conn === connection) client.conn = null;
    // API Gateway runs `$disconnect` (not a client request: no throttle).
    void this.#host.lambda.invoke('wsDisconnect', this.#host.weight, (runtime) => {
      if (!runtime.realtime) throw new Error('no realtime runtime');
      return runtime.realtime.connections.disconnect(connection.id);
    });
    if (client.gone) return;
    // The page asks its status at once (then polls at the server's pace) and opens a new socket.
    this.#schedulePoll(client, 0);
    this.#after(this.jitter * 1000, () => void this.#connect(client));
  }

  #onMessage(connection: Connection, data: string) {
    connection.lastActivity = Math.max(connection.lastActivity, this.#now);
    const client = connection.client;
    if (client.gone) return;
    const message = readServerMessage(data);
    if (message?.type === 'position') {
      if (message.update.token) client.token = message.update.token;
      this.#update(client, message.update.ahead, () => client.clock.applyMessage(message, this.#now).applied);
    } else if (message?.type === 'admitted') this.#knew(client, 'webSocket');
  }

  // --- staleness ----------------------------------------------------------------------------

  /** Starts the tracker and the sampling; call once, before the run. */
  schedule() {
    const host = this.#host;
    const { trackFromMs, measureFromMs, untilMs } = this.record;
    host.scheduler.at(host.saleStartMs + trackFromMs, () => this.#startTracking());
    const every = this.#config.staleness.everySeconds * 1000;
    for (let t = measureFromMs; t < untilMs; t += every)
      host.scheduler.at(host.saleStartMs + t, () => this.#sample());
    for (let t = 0; t < untilMs; t += 1000)
      host.scheduler.at(host.saleStartMs + t, () => {
        this.record.openConnections[Math.floor(t / 1000)] = this.#openWeight;
        host.apiGateway.meter.add('ws:connectionSeconds', this.#now, this.#openWeight);
      });
  }

  #startTracking() {
    const { fans } = this.#host;
    const positions: number[] = [];
    for (let fan = 0; fan < fans.position.length; fan++) {
      if (Number.isNaN(fans.acceptedAt[fan] ?? Number.NaN)) continue;
      if (!Number.isNaN(fans.leftAt[fan] ?? Number.NaN) || !Number.isNaN(fans.admittedAt[fan] ?? Number.NaN))
        continue;
      positions.push(fans.position[fan] ?? 0);
    }
    const tracker = this.#tracker;
    tracker.begin(Float64Array.from(positions));
    this.#exactTracker.begin(Float64Array.from(positions));
    for (const client of this.#clients.values()) {
      if (client.gone || !Number.isNaN(client.admittedAtMs) || Number.isNaN(client.floorAt)) continue;
      client.tracked = tracker.track(client.fan, client.position, client.floor, client.floorAt);
      if (client.tracked) this.#exactTracker.track(client.fan, client.position, client.floor, client.floorAt);
      // Leaves between its last update and now are unknown to the page.
      if (client.tracked)
        client.leavesKnown = -tracker.leavesAheadBetween(client.fan, client.logAtUpdate, tracker.beganAt);
      if (client.tracked) this.record.tracked++;
    }
  }

  #sample() {
    const tracker = this.#tracker;
    if (!tracker.began) return;
    const bands = this.#config.staleness.bands;
    const now = this.#at;
    const second = Math.floor(now / 1000);
    const perBand: number[][] = this.record.bands.map(() => []);
    for (const client of this.#clients.values()) {
      if (!client.tracked || client.gone || !client.visible || !Number.isNaN(client.admittedAtMs)) continue;
      const shown = this.shown(client);
      // Stale once the truth is shown as less than the page shows: below the least count
      // the page's rounded figure stands for.
      const reading = tracker.read(client.fan, lowestShownAs(shownAhead(shown).value), now);
      const exact = this.#exactTracker.read(client.fan, shown, now);
      if (reading.truth <= 0) continue;
      let band = bands.findIndex((b) => reading.truth <= b);
      if (band < 0) band = bands.length;
      const entry = this.record.bands[band];
      if (!entry) continue;
      const seconds = reading.staleMs / 1000;
      entry.histogram.add(seconds);
      entry.exactCount.add(exact.staleMs / 1000);
      entry.byMode[client.kind].add(seconds);
      // A page whose last update came before its slice was settled (the join's answer, or a
      // message in its first seconds) may still show that estimate; the rest shows what
      // exact updates and the countdown do.
      if (client.updated) entry.afterExactUpdate.add(seconds);
      else entry.onEstimate++;
      if (seconds > 10) {
        // Why: an estimate never corrected; or the leaves ahead the page cannot know of (a
        // page over by even one place is stale since the last admission it reflects, and so
        // on): without them it would be within 10 s; or the document's and updates' own lag.
        const leaves = client.updated ? tracker.leavesAheadNow(client.fan) - client.leavesKnown : 0;
        const excess = shown - reading.truth;
        if (!client.updated) entry.over10s.estimateNeverCorrected++;
        else if (excess > 0 && excess <= leaves) entry.over10s.leavesSinceUpdate++;
        else entry.over10s.other++;
      }
      perBand[band]?.push(seconds);
      if (reading.lowerBound) entry.lowerBounds++;
      if (shown < reading.truth) this.record.belowTruth[band] = (this.record.belowTruth[band] ?? 0) + 1;
    }
    perBand.forEach((values, band) => {
      if (values.length === 0) return;
      values.sort((a, b) => a - b);
      const series = this.record.stalenessSeries[band];
      if (series)
        series[second] = values[Math.min(values.length - 1, Math.ceil(values.length * 0.99) - 1)] ?? 0;
    });
  }

  /** Admitted fans that never knew it before the end, by how they waited; nobody starts anything new. */
  finish() {
    this.#stopped = true;
    for (const client of this.#clients.values()) {
      if (Number.isNaN(client.admittedAtMs) || !Number.isNaN(client.knewAt) || !client.modeAtAdmission)
        continue;
      if (client.admittedAtMs >= this.record.measureFromMs && client.admittedAtMs < this.record.untilMs)
        this.record.admittedUnknown[client.modeAtAdmission]++;
    }
  }
}

/** The `type` of a server message, without parsing all of it. */
function messageType(data: string): string {
  return /"type":"(\w+)"/.exec(data)?.[1] ?? 'other';
}

/**
 * `target` with some methods replaced; the others bound to it (its private fields need
 * `this` to be itself, not a proxy).
 */
function forward<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value = Reflect.get(object, property, object);
      return typeof value === 'function' ? value.bind(object) : value;
    },
  });
}

/**
 * API Gateway's `@connections` as the worker and the `$default` route meet it: each call
 * counts against the account's quota (weighted), retried by the SDK when throttled, then
 * the frame reaches the fan's page. A fan-out worker's calls also take its CPU, one after
 * another: the sampled post stands for `weight` of them, and the fan's own is somewhere
 * among them.
 */
class SimPoster implements ConnectionPoster {
  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: the runtime type does not matter here
    private readonly model: WaitingModel<any>,
    private readonly worker: { readonly cpu: WorkerCpu; readonly msPerMessage: number } | null,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async #callback(route: string): Promise<void> {
    const host = this.model.host;
    for (let attempt = 0; ; attempt++) {
      if (host.apiGateway.admitCallback(route, host.weight, host.scheduler.now())) return;
      if (attempt + 1 >= POST_ATTEMPTS) throw new ThrottledPostError('@connections throttled');
      await this.sleep(this.model.jitter * POST_RETRY_BASE_MS * 2 ** attempt);
    }
  }

  async post(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    const host = this.model.host;
    if (this.worker) {
      const { cpu, msPerMessage } = this.worker;
      const now = host.scheduler.now();
      if (cpu.placing > 0 && messageType(data) === 'position') {
        cpu.busyUntil = Math.max(now, cpu.busyUntil) + cpu.placing;
        cpu.placing = 0;
      }
      const begin = Math.max(now, cpu.busyUntil);
      cpu.busyUntil = begin + msPerMessage;
      const mine = begin + this.model.jitter * msPerMessage - now;
      if (mine > 0) await this.sleep(mine);
    }
    try {
      await this.#callback('@connections');
    } catch (error) {
      this.model.record.counts.postsFailed += host.weight;
      throw error;
    }
    await this.sleep(this.model.postMs);
    const connection = this.model.connection(connectionId);
    if (!connection?.open) return 'gone';
    this.model.deliver(connection, data);
    return 'sent';
  }

  async close(connectionId: string): Promise<'closed' | 'gone'> {
    await this.#callback('@connections:delete');
    await this.sleep(this.model.postMs);
    const connection = this.model.connection(connectionId);
    if (!connection?.open) return 'gone';
    this.model.serverClose(connection);
    return 'closed';
  }
}
