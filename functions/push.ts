/** Push worker, invoked asynchronously with the changes of a tick or an operator action. */
import type { PushJob } from '#app/jobs';
import { logger } from '#app/logger';
import { runtime } from '#app/runtime';

export const handler = async (job: PushJob) => {
  const result = await runtime().push.run(job.changes);
  if (result.sent > 0) logger.info('push milestones sent', { ...result });
  return result;
};
