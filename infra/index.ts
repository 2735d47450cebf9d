/**
 * `fairqueue/cdk`: the waiting room as a CDK construct for your own app, and the ready stack
 * this repository deploys. `aws-cdk-lib` and `constructs` are peer dependencies; the Lambda
 * handlers ship bundled inside the package, so synthesizing needs neither esbuild nor Docker.
 *
 * @example
 * ```ts
 * import { App, Stack } from 'aws-cdk-lib';
 * import { FairQueue } from 'fairqueue/cdk';
 *
 * const app = new App();
 * const stack = new Stack(app, 'Tickets');
 * const queue = new FairQueue(stack, 'Queue', { throttle: { rateLimit: 4000, burstLimit: 8000 } });
 * // queue.apiUrl, queue.jwksUrl and queue.webSocketUrl are what your apps and backends need.
 * ```
 * @packageDocumentation
 */

export type { EdgeDomain, EdgeOptions } from './edge.ts';
export { FairqueueStack, type FairqueueStackProps } from './fairqueue-stack.ts';
export type { PushProps } from './push.ts';
export { FairQueue, type FairQueueProps, type IdentityProviderProps } from './waiting-room.ts';
