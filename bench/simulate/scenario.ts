/**
 * A scenario file: the crowd, the event's configuration and the AWS limits it meets.
 * Parsed with zod; every field the file leaves out takes the default written here, which
 * is AWS's own default (account quotas) or the stack's (stage throttle, reserved
 * concurrency, tick interval) unless it says otherwise.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { dynamoModelSchema } from './dynamodb.ts';
import { distributionSchema } from './random.ts';

const seconds = z.number().nonnegative();

const arrivalSchema = z.discriminatedUnion('type', [
  /** Evenly over `seconds`. */
  z.object({ type: z.literal('uniform'), seconds: z.number().positive() }).strict(),
  /** Consecutive segments, each at its own rate; the fans count must equal their sum. */
  z
    .object({
      type: z.literal('piecewise'),
      segments: z
        .array(z.object({ seconds: z.number().positive(), perSecond: z.number().nonnegative() }).strict())
        .min(1),
    })
    .strict(),
  /** A steady crowd over `seconds` with a spike: `spikePerSecond` for `spikeSeconds` from `spikeAtSeconds`. */
  z
    .object({
      type: z.literal('spike'),
      seconds: z.number().positive(),
      spikeAtSeconds: seconds,
      spikeSeconds: z.number().positive(),
      spikePerSecond: z.number().positive(),
    })
    .strict(),
]);
export type Arrival = z.infer<typeof arrivalSchema>;

const rateLimitSchema = z.object({ rps: z.number().positive(), burst: z.number().positive() }).strict();

const FUNCTIONS = [
  'join',
  'status',
  'admission',
  'complete',
  'leave',
  'admitter',
  // The waiting model's (scenario `waiting`): the public document, the fan-out worker and
  // the WebSocket routes ($connect, $default, $disconnect).
  'event',
  'fanout',
  'wsConnect',
  'wsMessage',
  'wsDisconnect',
] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

const perFunction = <T extends z.ZodType>(value: T) =>
  z
    .object(
      Object.fromEntries(FUNCTIONS.map((f) => [f, value.optional()])) as Record<
        FunctionName,
        z.ZodOptional<T>
      >,
    )
    .strict();

/**
 * The waiting model (issue 8): how the sampled fans (`crowd.pollerShare` of the crowd, each
 * standing for 1/share fans) wait once they have a place, and what the measured window is.
 * Absent: the sale runs as before (sampled fans poll status, the rest cost nothing).
 */
const waitingSchema = z
  .object({
    /** Staleness, peaks and cost are measured from here to the end of the run (the line is full). */
    measureFromSeconds: seconds,
    /** How fans wait: on a WebSocket (falling back to polling when refused), polling, or a page in the background. */
    shares: z
      .object({
        webSocket: z.number().min(0).max(1),
        polling: z.number().min(0).max(1),
        backgrounded: z.number().min(0).max(1),
      })
      .strict()
      .refine(
        (s) => Math.abs(s.webSocket + s.polling + s.backgrounded - 1) < 1e-9,
        'shares must add up to 1',
      ),
    /** Backgrounded fans: hidden (no requests) and visible again, in turn. */
    backgrounded: z
      .object({
        hiddenSeconds: distributionSchema.default({ type: 'lognormal', median: 180, p99: 1800 }),
        visibleSeconds: distributionSchema.default({ type: 'lognormal', median: 30, p99: 300 }),
      })
      .strict()
      .default({
        hiddenSeconds: { type: 'lognormal', median: 180, p99: 1800 },
        visibleSeconds: { type: 'lognormal', median: 30, p99: 300 },
      }),
    /** Staleness of each tracked fan's shown `ahead` is sampled this often, by distance band (upper bounds). */
    staleness: z
      .object({
        everySeconds: z.number().positive().default(1),
        bands: z.array(z.number().int().positive()).min(1).default([100, 1_000, 10_000, 100_000]),
      })
      .strict()
      .default({ everySeconds: 1, bands: [100, 1_000, 10_000, 100_000] }),
    /** CloudFront in front of the HTTP API (decision 0011): the public document cached `ttlSeconds`. */
    cdn: z
      .object({
        /** Edge locations serving the event's fans (each fan always reaches the same one). */
        edgeLocations: z.number().int().positive().default(100),
        /** Regional edge caches between the edges and the origin; 0: edges go to the origin. */
        regionalCaches: z.number().int().nonnegative().default(13),
        ttlSeconds: z.number().positive().default(1),
        viewerMs: distributionSchema.default({ type: 'lognormal', median: 20, p99: 80 }),
        edgeToRegionalMs: distributionSchema.default({ type: 'lognormal', median: 15, p99: 60 }),
        toOriginMs: distributionSchema.default({ type: 'lognormal', median: 25, p99: 90 }),
        /** Distribution quota (AWS default 250,000 requests/s). */
        requestsPerSecondQuota: z.number().positive().default(250_000),
        /** Response headers per answer, for data transfer out. */
        headerBytes: z.number().int().nonnegative().default(450),
        /**
         * An edge keeps a copy it got from a regional cache only for what is left of its TTL
         * (RFC 9111 `Age`); false: a full TTL of its own (ages add up).
         */
        honourAge: z.boolean().default(true),
      })
      .strict()
      .default({
        edgeLocations: 100,
        regionalCaches: 13,
        ttlSeconds: 1,
        viewerMs: { type: 'lognormal', median: 20, p99: 80 },
        edgeToRegionalMs: { type: 'lognormal', median: 15, p99: 60 },
        toOriginMs: { type: 'lognormal', median: 25, p99: 90 },
        requestsPerSecondQuota: 250_000,
        headerBytes: 450,
        honourAge: true,
      }),
    /** The fan-out and the WebSocket side (FQ_WS_* settings, API Gateway's limits, the client). */
    webSocket: z
      .object({
        shards: z.number().int().min(1).default(16),
        concurrency: z.number().int().min(1).default(64),
        /** FQ_WS_MESSAGES_PER_SECOND (the sampled fan-out gets this × the sampled share). */
        messagesPerSecond: z.number().positive().default(2000),
        nearHorizonSeconds: z.number().nonnegative().default(60),
        maxConnectionSeconds: z.number().positive().default(7200),
        idleTimeoutSeconds: z.number().positive().default(600),
        /** The client's ping: every `everySeconds`, or only after that long without any message (`whenIdle`). */
        heartbeat: z
          .object({ everySeconds: z.number().positive(), whenIdle: z.boolean() })
          .strict()
          .default({ everySeconds: 240, whenIdle: false }),
        /**
         * A refused socket (a page cannot tell `websocket_busy` from a quota) is tried again
         * after base · 2^k seconds (at most max), ±50 %, but not before the page's counted-down
         * wait is under `retryWithinWaitSeconds` (at the document's `admitRatePerMinute`), and
         * at most `retryFarSeconds` apart; a closed one at once.
         */
        reconnectBaseSeconds: z.number().positive().default(2),
        reconnectMaxSeconds: z.number().positive().default(60),
        retryWithinWaitSeconds: z.number().nonnegative().default(120),
        retryFarSeconds: z.number().positive().default(3600),
        /** Asynchronous invocation of a shard's worker after the tick commits. */
        dispatchMs: distributionSchema.default({ type: 'lognormal', median: 40, p99: 200 }),
        /** PostToConnection round trip from the worker. */
        postMs: distributionSchema.default({ type: 'lognormal', median: 10, p99: 40 }),
        /** From API Gateway's answer to the frame reaching the fan. */
        deliveryMs: distributionSchema.default({ type: 'lognormal', median: 30, p99: 120 }),
        /**
         * Worker CPU on a full core, scaled by the fan-out's vCPU share (memory ÷ 1,769 MB): per
         * `position` message (sign, JSON, SDK post: bench part 4 measured 641 µs); per listed
         * connection (reading its registry item: the simulated engine takes 1 µs without the
         * SDK's unmarshalling, assumed 3 µs with it); per placed connection (its place,
         * estimate and tier: probe-fanout-cpu.ts measured 11.5 µs on a sharded line).
         */
        cpuMsPerMessage: z.number().nonnegative().default(0.641),
        cpuMsPerListedConnection: z.number().nonnegative().default(0.003),
        cpuMsPerPlacedConnection: z.number().nonnegative().default(0.0115),
      })
      .strict()
      .default({
        shards: 16,
        concurrency: 64,
        messagesPerSecond: 2000,
        nearHorizonSeconds: 60,
        maxConnectionSeconds: 7200,
        idleTimeoutSeconds: 600,
        heartbeat: { everySeconds: 240, whenIdle: false },
        reconnectBaseSeconds: 2,
        reconnectMaxSeconds: 60,
        retryWithinWaitSeconds: 120,
        retryFarSeconds: 3600,
        dispatchMs: { type: 'lognormal', median: 40, p99: 200 },
        postMs: { type: 'lognormal', median: 10, p99: 40 },
        deliveryMs: { type: 'lognormal', median: 30, p99: 120 },
        cpuMsPerMessage: 0.641,
        cpuMsPerListedConnection: 0.003,
        cpuMsPerPlacedConnection: 0.0115,
      }),
    /** FQ_STATUS_REQUESTS_PER_SECOND: the pace status polls are given. */
    statusRequestsPerSecond: z.number().positive().default(1000),
    /** The aggregate model projects the run to this many waiting fans (seed 001: 50,000,000). */
    projectTo: z.number().int().positive().default(50_000_000),
  })
  .strict();
export type WaitingScenario = z.infer<typeof waitingSchema>;

const DEFAULT_CPU_MS = {
  join: 0.5,
  status: 0.7,
  admission: 0.7,
  complete: 0.5,
  leave: 0.5,
  admitter: 1,
  event: 0.5,
  fanout: 1,
  wsConnect: 0.7,
  wsMessage: 0.3,
  wsDisconnect: 0.3,
};

export const scenarioSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional(),
    description: z.string().default(''),
    /** Anything a reader of the results should know about the choices made. */
    notes: z.array(z.string()).default([]),
    seed: z.number().int().default(1),
    /** Virtual seconds simulated from the sale's start; fans still waiting then are counted as waiting. */
    durationSeconds: z.number().positive(),
    /** Sample the state (queue length, throughput) this often, for the charts. */
    sampleEverySeconds: z.number().positive().default(1),
    /**
     * FQ_STATUS_REQUESTS_PER_SECOND as the operator deploys it (decision 0012; the default, 1,000,
     * is half the stack's default stage throttle). A scenario with raised quotas raises it too;
     * a `waiting` section's own value wins.
     */
    statusRequestsPerSecond: z.number().positive().optional(),
    event: z
      .object({
        id: z
          .string()
          .regex(/^[a-zA-Z0-9_-]{1,64}$/)
          .default('onsale'),
        capacity: z.number().int().positive(),
        admitPerMinute: z.number().int().positive().nullable().default(null),
        claimWindowSeconds: z.number().int().positive().default(300),
        purchaseWindowSeconds: z.number().int().positive().default(1200),
        positionTtlSeconds: z.number().int().positive().default(1800),
        intake: z.enum(['exact', 'sharded']).default('exact'),
        /** The operator's expected purchase time (contract v1.1 addition); null = not given. */
        expectedPurchaseSeconds: z.number().int().positive().nullable().default(null),
      })
      .strict(),
    crowd: z
      .object({
        fans: z.number().int().positive(),
        arrival: arrivalSchema,
        /**
         * Seconds after the event is created (and the admitter starts ticking) that the first
         * fan arrives: a real on-sale's event exists before its doors open.
         */
        doorsOpenAtSeconds: z.number().nonnegative().default(0),
        /** Share of fans who join with a user id; the rest join anonymously (a new place each time). */
        identifiedShare: z.number().min(0).max(1).default(0.6),
        /** Share of identified fans who join again (another device, a reload): they must get the same place. */
        repeatJoinShare: z.number().min(0).max(1).default(0.1),
        repeatJoinDelaySeconds: distributionSchema.default({ type: 'uniform', min: 0, max: 30 }),
        /** Admitted but never claim. */
        noShowShare: z.number().min(0).max(1).default(0.2),
        /** Give their place up while waiting (`DELETE …/place`, once the build has it). */
        leaveShare: z.number().min(0).max(1).default(0.02),
        leaveAfterSeconds: distributionSchema.default({ type: 'uniform', min: 10, max: 300 }),
        /** Stop polling and never claim (a closed tab): their place still comes up. */
        abandonShare: z.number().min(0).max(1).default(0.05),
        abandonAfterSeconds: distributionSchema.default({ type: 'uniform', min: 10, max: 600 }),
        /** From admission to the claim, for fans who claim. */
        claimDelaySeconds: distributionSchema.default({ type: 'lognormal', median: 20, p99: 240 }),
        /** From the claim to `complete`; beyond the purchase window the session just expires. */
        purchaseSeconds: distributionSchema.default({ type: 'lognormal', median: 240, p99: 900 }),
        /**
         * Share of fans simulated as status pollers through the real code; each stands for
         * 1/share fans in every throughput limit and count. The others learn of their admission
         * as a WebSocket client would, at the tick, and cost no requests.
         */
        pollerShare: z.number().gt(0).max(1).default(0.02),
        /** A refused join (429 or 503) is retried after Retry-After (1 s if absent) plus up to `jitterSeconds`. */
        joinRetries: z.number().int().min(0).default(5),
        retryJitterSeconds: z.number().nonnegative().default(1),
      })
      .strict(),
    admitter: z
      .object({
        tickSeconds: z.number().positive().default(5),
        /** One EventBridge-started invocation ticks this long (FQ_ADMITTER_RUN_SECONDS). */
        runSeconds: z.number().positive().default(55),
        scheduleSeconds: z.number().positive().default(60),
        /** When the first scheduled run starts, relative to the sale's start. */
        firstRunAtSeconds: seconds.default(0),
      })
      .strict()
      .default({ tickSeconds: 5, runSeconds: 55, scheduleSeconds: 60, firstRunAtSeconds: 0 }),
    lambda: z
      .object({
        /** Account concurrency (AWS default 1,000). */
        accountConcurrency: z.number().int().positive().default(1000),
        /** Reserved concurrency per function (the stack reserves 2 for the admitter). */
        reserved: perFunction(z.number().int().positive()).default({ admitter: 2 }),
        memoryMb: z.number().int().min(128).default(512),
        /** Functions whose memory differs from `memoryMb` (the stack gives the fan-out 1,024 MB). */
        memoryMbByFunction: perFunction(z.number().int().min(128)).default({}),
        /** New execution environments per function: 1,000 per 10 s, refilled continuously (AWS). */
        scaleUpPer10Seconds: z.number().positive().default(1000),
        /** INIT duration of a cold start (billed since August 2025). */
        coldStartMs: distributionSchema.default({ type: 'lognormal', median: 350, p99: 900 }),
        /**
         * How long one environment reuses an event read (FQ_EVENT_CACHE_MS; 1,000 in Lambda), for
         * builds whose WaitingRoom takes `eventCacheMs`.
         */
        eventCacheMs: z.number().int().nonnegative().default(1000),
        /** Warm environments before the sale (warm-up traffic): used at once, no scaling needed. */
        prewarmed: perFunction(z.number().int().nonnegative()).default({}),
        /**
         * Handler CPU per invocation besides the SDK's per-call CPU (dynamodb.sdk), in ms on the
         * function's CPU share (512 MB ≈ 0.29 vCPU): bench/results/latest.json measured 58 µs per
         * join (ES256 signature included) and ~110 µs per verification on a full core.
         */
        cpuMs: perFunction(distributionSchema).default(DEFAULT_CPU_MS),
      })
      .strict()
      .default({
        accountConcurrency: 1000,
        reserved: { admitter: 2 },
        memoryMb: 512,
        memoryMbByFunction: {},
        scaleUpPer10Seconds: 1000,
        coldStartMs: { type: 'lognormal', median: 350, p99: 900 },
        eventCacheMs: 1000,
        prewarmed: {},
        cpuMs: DEFAULT_CPU_MS,
      }),
    apiGateway: z
      .object({
        /** Account-level throttle per region (AWS default 10,000 rps, burst 5,000). */
        account: rateLimitSchema.default({ rps: 10_000, burst: 5_000 }),
        /** The HTTP API stage throttle; the stack's default is 2,000 rps, burst 5,000. null: none. */
        stage: rateLimitSchema.nullable().default({ rps: 2_000, burst: 5_000 }),
        /**
         * The WebSocket API stage throttle (connects and client messages); the stack's default
         * is 1,000 rps, burst 2,000. Used by the waiting model only.
         */
        webSocketStage: rateLimitSchema.nullable().default({ rps: 1_000, burst: 2_000 }),
        /** New WebSocket connections per second, account and Region (AWS default 500). Waiting model only. */
        webSocketConnects: rateLimitSchema.default({ rps: 500, burst: 500 }),
      })
      .strict()
      .default({
        account: { rps: 10_000, burst: 5_000 },
        stage: { rps: 2_000, burst: 5_000 },
        webSocketStage: { rps: 1_000, burst: 2_000 },
        webSocketConnects: { rps: 500, burst: 500 },
      }),
    dynamodb: dynamoModelSchema.default(dynamoModelSchema.parse({})),
    /**
     * `fast`: a stand-in token service with the same interface and no signature (its CPU is
     * in `lambda.cpuMs`); `real`: ES256 with a real key, as the functions sign.
     */
    tokens: z.enum(['fast', 'real']).default('fast'),
    waiting: waitingSchema.optional(),
  })
  .strict()
  .superRefine((scenario, ctx) => {
    const { arrival, fans } = scenario.crowd;
    if (arrival.type === 'piecewise') {
      const sum = arrival.segments.reduce((n, s) => n + s.seconds * s.perSecond, 0);
      if (Math.abs(sum - fans) > Math.max(1, fans * 0.001))
        ctx.addIssue({
          code: 'custom',
          message: `the arrival segments bring ${sum} fans, crowd.fans says ${fans}`,
        });
    }
    if (arrival.type === 'spike') {
      const inSpike = arrival.spikePerSecond * arrival.spikeSeconds;
      if (inSpike > fans)
        ctx.addIssue({
          code: 'custom',
          message: `the spike alone brings ${inSpike} fans, more than ${fans}`,
        });
      if (arrival.spikeAtSeconds + arrival.spikeSeconds > arrival.seconds)
        ctx.addIssue({ code: 'custom', message: 'the spike must end within the arrival seconds' });
    }
  });
export type Scenario = z.infer<typeof scenarioSchema> & { readonly name: string };

/** Reads and checks a scenario file; its name defaults to the file's. */
export function loadScenario(path: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read scenario ${path}: ${(error as Error).message}`);
  }
  return parseScenario(raw, basename(path).replace(/\.json$/, ''));
}

export function parseScenario(raw: unknown, fallbackName: string): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('\n');
    throw new Error(`invalid scenario ${fallbackName}:\n${issues}`);
  }
  return { ...parsed.data, name: parsed.data.name ?? fallbackName };
}
