/** Push worker, invoked asynchronously with the changes of a tick or an operator action. */
import type { PushJob } from '#app/jobs';
import { logger } from '#app/logger';
import { initRuntime, runtime } from '#app/runtime';

initRuntime();

export const handler = async (job: PushJob) => {
  const { push, metrics } = runtime();
  try {
    const result = await push.run(job.changes);
    if (result.sent > 0) logger.info('push milestones sent', { ...result });
    return result;
  } finally {
    // A run with failed publishes throws (so Lambda retries it); what it did send still counts.
    metrics.flush();
  }
};
