/** What the WebSocket tells a connected fan when the line changes (contract: "WebSocket"). */

export type ServerMessage =
  | {
      readonly type: 'position';
      readonly position: number;
      readonly servingPosition: number;
      readonly ahead: number;
      readonly estimatedWaitSeconds: number | null;
      readonly token: string;
    }
  | { readonly type: 'admitted'; readonly claimBy: number }
  | { readonly type: 'paused' }
  | { readonly type: 'closed' };

/** The answer to a client's ping. Not event state. */
export const PONG = JSON.stringify({ type: 'pong' });

export type LineEvent =
  | { readonly kind: 'moved'; readonly from: number; readonly to: number }
  | { readonly kind: 'state'; readonly state: 'open' | 'paused' | 'closed' };

/**
 * Which message a holder of `position` gets for a change, or null for none:
 * a fan let in by this move is `admitted`; one still waiting hears the new
 * position; one admitted earlier hears nothing more about the line. State
 * changes reach everyone; a resume tells waiting fans where they stand.
 */
export function messageKind(event: LineEvent, position: number): ServerMessage['type'] | null {
  if (event.kind === 'state') {
    if (event.state === 'paused') return 'paused';
    if (event.state === 'closed') return 'closed';
    return 'position';
  }
  if (position <= event.from) return null;
  return position <= event.to ? 'admitted' : 'position';
}
