/**
 * `fairqueue/client` (CONTRACT.md, "Packages"): `createWaitingRoom` with its storage
 * adapters, and the core it is built on (the place clock, read pacing, display rounding).
 * No Node API and no DOM API, only the language (its own tsconfig checks that), so it runs
 * in browsers, React Native and Node. The page at `/` of the local runtime is built on it,
 * served as `/client.js`.
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
