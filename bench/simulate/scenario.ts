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

const FUNCTIONS = ['join', 'status', 'admission', 'complete', 'leave', 'admitter'] as const;
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

const DEFAULT_CPU_MS = { join: 0.5, status: 0.7, admission: 0.7, complete: 0.5, leave: 0.5, admitter: 1 };

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
      })
      .strict()
      .default({
        account: { rps: 10_000, burst: 5_000 },
        stage: { rps: 2_000, burst: 5_000 },
      }),
    dynamodb: dynamoModelSchema.default(dynamoModelSchema.parse({})),
    /**
     * `fast`: a stand-in token service with the same interface and no signature (its CPU is
     * in `lambda.cpuMs`); `real`: ES256 with a real key, as the functions sign.
     */
    tokens: z.enum(['fast', 'real']).default('fast'),
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
