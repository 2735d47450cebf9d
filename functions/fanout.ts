/**
 * Fan-out worker, invoked asynchronously once per shard for every change of the
 * line (by the admitter and the operator routes).
 */
import type { FanoutJob } from '#app/jobs';
import { logger } from '#app/logger';
import { initRuntime, runtime } from '#app/runtime';

initRuntime();

export const handler = async (job: FanoutJob) => {
  const { fanout, metrics } = runtime();
  if (!fanout) {
    logger.warn('fan-out skipped: no WebSocket management endpoint configured');
    return { sent: 0, gone: 0, failed: 0, skipped: 0 };
  }
  const result = await fanout.run(job.change, job.shard);
  metrics.record('FanoutMessages', result.sent);
  metrics.record('FanoutFailures', result.failed);
  metrics.flush();
  logger.info('fan-out done', {
    eventId: job.change.eventId,
    shard: job.shard,
    kind: job.change.kind,
    ...result,
  });
  return result;
};
