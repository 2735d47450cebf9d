/**
 * The browser-safe core of fairqueue's client: no Node API and no DOM API, only the
 * language (its own tsconfig checks that). Pages and apps build on it (the page at `/` of
 * the local runtime does, served as `/client.js`); `fairqueue/client` will wrap it with
 * the requests, the socket and storage (CONTRACT.md, "Packages").
 */
export { curveAdmittedWithin, curveWaitSeconds } from './curve.ts';
export { EXACT_AHEAD_UP_TO, lowestShownAs, type ShownAhead, shownAhead } from './display.ts';
export {
  BACKOFF_DEFAULTS,
  Backoff,
  type BackoffOptions,
  DEFAULT_DOCUMENT_SECONDS,
  DEFAULT_STATUS_SECONDS,
  LIVE_STATUS_SECONDS,
  NEAR_DOCUMENT_SECONDS,
  NEAR_DOCUMENT_WAIT_SECONDS,
  type ReadPlan,
  type ReadPlanInput,
  readPlan,
} from './pacing.ts';
export {
  type Applied,
  CLOCK_DEFAULTS,
  PlaceClock,
  type PlaceClockOptions,
  type PlaceSnapshot,
  type PlaceView,
  type WaitReason,
} from './place-clock.ts';
export {
  type IndexedDbFactoryLike,
  type IndexedDbStorageOptions,
  indexedDbStorage,
  localStorageAdapter,
  memoryStorage,
  type WaitingRoomStorage,
  type WebStorageLike,
} from './storage.ts';
export { base64UrlDecode, type PositionClaims, readPositionToken, utf8Decode } from './token.ts';
export {
  type AccessGrant,
  type Connection,
  createWaitingRoom,
  type FetchLike,
  type FetchResponseLike,
  type SubscribeOptions,
  type WaitingRoom,
  WaitingRoomError,
  type WaitingRoomEvent,
  type WaitingRoomListener,
  type WaitingRoomOptions,
  type WaitingRoomState,
  type WebSocketConstructorLike,
  type WebSocketLike,
} from './waiting-room.ts';
export {
  type EventDocument,
  type EventState,
  type LineLeaves,
  type PlaceLine,
  type PlaceStatus,
  type PlaceUpdate,
  readEventDocument,
  readLineLeaves,
  readPlaceUpdate,
  readServerMessage,
  readWaitCurve,
  type ServerMessage,
  type WaitCurve,
} from './wire.ts';
