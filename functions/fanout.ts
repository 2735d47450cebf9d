/**
 * Fan-out worker, invoked asynchronously once per shard for every change of the
 * line (by the admitter and the operator routes).
 */
import { fanoutJobSchema } from '#app/jobs';
import { logger } from '#app/logger';
import { initRuntime, runtime } from '#app/runtime';

initRuntime();

export const handler = async (payload: unknown) => {
  const parsed = fanoutJobSchema.safeParse(payload);
  if (!parsed.success) {
    // Not retried (a retry would fail the same way): logged, and the next change goes out as usual.
    logger.error('fan-out job dropped: malformed payload', { issues: parsed.error.issues.slice(0, 5) });
    return { sent: 0, gone: 0, failed: 0, skipped: 0, superseded: false };
  }
  const job = parsed.data;
  const { fanout, metrics } = runtime();
  if (!fanout) {
    logger.warn('fan-out skipped: no WebSocket management endpoint configured');
    return { sent: 0, gone: 0, failed: 0, skipped: 0, superseded: false };
  }
  const result = await fanout.run(job.change, job.shard);
  metrics.record('FanoutMessages', result.sent);
  metrics.record('FanoutFailures', result.failed);
  metrics.flush();
  // One per shard and change: routine at DEBUG, worth a look when posts failed.
  const summary = {
    eventId: job.change.eventId,
    shard: job.shard,
    kind: job.change.kind,
    seq: job.change.seq,
    ...result,
  };
  if (result.failed > 0) logger.warn('fan-out done with failures', summary);
  else logger.debug('fan-out done', summary);
  return result;
};
