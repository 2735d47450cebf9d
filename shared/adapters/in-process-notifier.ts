/**
 * The local stand-in for asynchronous Lambda invocations: runs the same fan-out
 * and push handlers in this process, after the caller has returned.
 */
import { type FanoutJob, fanoutJobs, type PushJob } from '#app/jobs';
import type { ChangeNotifier, LineChange } from '#ports/realtime';

export interface InProcessWorkers {
  readonly fanout: (job: FanoutJob) => Promise<unknown>;
  readonly push: ((job: PushJob) => Promise<unknown>) | null;
  readonly shards: number;
  readonly onError: (error: unknown) => void;
}

export class InProcessNotifier implements ChangeNotifier {
  readonly #pending = new Set<Promise<unknown>>();
  #workers: InProcessWorkers | undefined;

  /** Workers are attached after the runtime is built (they are built from it). */
  attach(workers: InProcessWorkers): void {
    this.#workers = workers;
  }

  async notify(changes: readonly LineChange[]): Promise<void> {
    const workers = this.#workers;
    if (!workers) return;
    const run = (work: () => Promise<unknown>) => {
      // setImmediate: like an asynchronous invocation, the work starts after the caller moves on.
      const job = new Promise((resolve) => setImmediate(resolve))
        .then(work)
        .catch(workers.onError)
        .finally(() => this.#pending.delete(job));
      this.#pending.add(job);
    };
    for (const job of fanoutJobs(changes, workers.shards)) run(() => workers.fanout(job));
    const push = workers.push;
    if (push && changes.length > 0) run(() => push({ changes }));
  }

  /** Resolves when every scheduled job has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
