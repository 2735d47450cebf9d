/**
 * Hands line changes to the fan-out and push Lambdas as asynchronous
 * invocations: the admitter only waits for Lambda to queue them, never for
 * the work itself.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { fanoutJobs } from '#app/jobs';
import type { ChangeNotifier, LineChange } from '#ports/realtime';

export class LambdaChangeNotifier implements ChangeNotifier {
  constructor(
    private readonly client: LambdaClient,
    private readonly options: { fanoutFunction: string | null; pushFunction: string | null; shards: number },
  ) {}

  async notify(changes: readonly LineChange[]): Promise<void> {
    const invoke = (functionName: string, payload: unknown) =>
      this.client.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(payload)),
        }),
      );
    const calls: Promise<unknown>[] = [];
    if (this.options.fanoutFunction) {
      for (const job of fanoutJobs(changes, this.options.shards))
        calls.push(invoke(this.options.fanoutFunction, job));
    }
    if (this.options.pushFunction && changes.length > 0)
      calls.push(invoke(this.options.pushFunction, { changes }));
    await Promise.all(calls);
  }
}
