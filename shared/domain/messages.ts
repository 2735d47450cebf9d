/**
 * What the WebSocket tells a connected fan when the line changes (contract:
 * "WebSocket"), and who hears what from one fan-out job. Pure.
 *
 * Every message about the event carries `seq`, the event's version, which grows
 * with every committed tick and every change of state. A message says the event's
 * state as of its `seq`: `admitted`, `paused` and `closed` carry the seq of the
 * change that caused them; `position` carries the version of the event it was
 * computed from (it is computed from the freshest read, which may be newer than
 * the job). A client ignores a message whose seq is lower than the last it
 * applied, so a late, stale message never wins.
 */

export type ServerMessage =
  | {
      readonly type: 'position';
      readonly seq: number;
      readonly position: number;
      readonly servingPosition: number;
      readonly ahead: number;
      readonly estimatedWaitSeconds: number | null;
      readonly token: string;
      /** Real places admitted when `ahead` was worked out (the public document's counter). */
      readonly admittedTotal: number;
      /** What the client counts leaves ahead with, from the public document's `line` (null: it cannot). */
      readonly line: {
        readonly blockSize: number;
        readonly goneBefore: number;
        readonly blockLeaves: number;
      } | null;
    }
  | { readonly type: 'admitted'; readonly seq: number; readonly claimBy: number }
  | { readonly type: 'paused'; readonly seq: number }
  | { readonly type: 'resumed'; readonly seq: number }
  | { readonly type: 'closed'; readonly seq: number }
  /** The place was given up; the server closes the connection after it. */
  | { readonly type: 'left'; readonly seq: number };

/** The answer to a client's ping. Not event state, so it carries no `seq` and clients do not order it. */
export const PONG = JSON.stringify({ type: 'pong' });

export type MessageKind = ServerMessage['type'];

/** Who hears what from one fan-out job. */
export interface FanoutPlan {
  /** Places in (admitFrom, admitTo] hear `admitted` (while their batch's claim window runs). */
  readonly admitFrom: number;
  readonly admitTo: number;
  /** Sent to every connection: the job is a pause, a resume or a close. */
  readonly state: 'paused' | 'resumed' | 'closed' | null;
  /** Places behind this serving position hear `position`; null: nobody does. */
  readonly positionsBehind: number | null;
}

/**
 * The plan of a job that covers admissions in (range.from, range.to], given the
 * event as read now. `position` messages go out for a moved line or a resume, and
 * only while the event is open now: if it has since been paused or closed, that
 * newer change's own job tells everyone, and a `position` must not contradict it.
 * `resumed` goes to everyone (admitted and active fans heard `paused` too), under
 * the same rule; `paused` and `closed` go out however late (nothing replaces them).
 */
export function fanoutPlan(args: {
  readonly change: { readonly kind: 'moved' } | { readonly kind: 'state'; readonly state: string };
  readonly range: { readonly from: number; readonly to: number };
  readonly current: { readonly state: string; readonly servingPosition: number };
}): FanoutPlan {
  const { change, range, current } = args;
  const stillOpen = current.state === 'open';
  const resumed = change.kind === 'state' && change.state === 'open';
  const state =
    change.kind === 'state' && (change.state === 'paused' || change.state === 'closed')
      ? change.state
      : resumed && stillOpen
        ? 'resumed'
        : null;
  const tellsPositions = change.kind === 'moved' || resumed;
  return {
    admitFrom: range.from,
    admitTo: range.to,
    state,
    positionsBehind: tellsPositions && stillOpen ? current.servingPosition : null,
  };
}

/**
 * The messages the holder of `position` gets from a plan, in sending order: a fan
 * let in within the range hears `admitted`; a pause, resume or close reaches
 * everyone; a fan still waiting hears its new position; a fan admitted earlier
 * hears nothing more about the line.
 */
export function messageKinds(plan: FanoutPlan, position: number): MessageKind[] {
  const kinds: MessageKind[] = [];
  if (position > plan.admitFrom && position <= plan.admitTo) kinds.push('admitted');
  if (plan.state) kinds.push(plan.state);
  if (plan.positionsBehind !== null && position > plan.positionsBehind) kinds.push('position');
  return kinds;
}
