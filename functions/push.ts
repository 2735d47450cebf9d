/** Push worker, invoked asynchronously with the changes of a tick or an operator action. */
import type { PushJob } from '#app/jobs';
import { logger } from '#app/logger';
import { initRuntime, runtime } from '#app/runtime';

initRuntime();

export const handler = async (job: PushJob) => {
  const result = await runtime().push.run(job.changes);
  if (result.sent > 0) logger.info('push milestones sent', { ...result });
  return result;
};
