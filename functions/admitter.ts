/**
 * Scheduled every minute by EventBridge; ticks every FQ_TICK_SECONDS for
 * FQ_ADMITTER_RUN_SECONDS. Overlapping invocations are safe (versioned commits).
 */
import type { Context } from 'aws-lambda';
import { logger } from '#app/logger';
import { initRuntime, runtime } from '#app/runtime';

initRuntime();

/** `{ once: true }` runs a single tick: how the local scheduler calls this handler every TICK_MS. */
export const handler = async (event: { once?: boolean } | undefined, context?: Context) => {
  const { admitter, config } = runtime();
  const onError = (error: unknown, eventId?: string) =>
    logger.error('tick failed', { error: error as Error, eventId });
  if (event?.once) {
    const outcomes = await admitter.tickAll(onError);
    return { ticks: 1, outcomes };
  }
  // Leave a margin before the Lambda timeout so the last tick always finishes.
  const remaining = context ? context.getRemainingTimeInMillis() / 1000 - 10 : config.admitterRunSeconds;
  const runSeconds = Math.max(0, Math.min(config.admitterRunSeconds, remaining));
  const ticks = await admitter.run(runSeconds, onError);
  return { ticks };
};
