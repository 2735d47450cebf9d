/**
 * The DynamoDB layout, in one file. One table, `pk`/`sk` strings, TTL on `ttl`
 * (garbage collection only: nothing here waits for TTL to delete an item).
 *
 * | pk                          | sk                 | what                                           |
 * |-----------------------------|--------------------|------------------------------------------------|
 * | EVENT#{id}                  | META               | config, state, the admitter's versioned state  |
 * | EVENT#{id}#VIEW#{copy}      | VIEW               | sharded events: a published copy of META (`record`, its `version`/`configVersion`) and the tick's `line` snapshot, for the hot reads (decision 0010) |
 * | EVENT#{id}                  | COUNTER            | `issued` (the join counter), `closed`          |
 * | EVENT#{id}                  | COUNTS             | `claimed`, `completed`, `leftAdmitted` (before release stripes; still summed) |
 * | EVENT#{id}                  | ADM#{to:16}        | one admission batch: from, to, admitted, at, claimBy |
 * | EVENT#{id}                  | REL#{sec:10}       | slots to release at that second: missed (admission batches add here), expired |
 * | EVENT#{id}                  | SEAL               | `sealedThrough`: buckets at or below it are counted, frozen; `fencedThrough`: places at or below it can no longer leave as void |
 * | EVENT#{id}#REL#{stripe}     | {sec:10}           | a release stripe's bucket: what claims, completes and leaves moved (decision 0010) |
 * | EVENT#{id}#REL#{stripe}     | SEAL               | the stripe's `sealedThrough`, and its `claimed`, `completed`, `leftAdmitted` counts |
 * | EVENT#{id}                  | PUSHCURSOR         | how far the push milestones have been sent     |
 * | EVENT#{id}                  | FANOUT#{shard}     | fan-out cursor: newest `seq` sent to the shard, admissions it covered (from, to] |
 * | EVENT#{id}#USER#{userId}    | USER               | the user's position                            |
 * | EVENT#{id}#PLACE#{pos}      | SESSION            | the purchase session of a place                |
 * | EVENT#{id}#PLACE#{pos}      | LEFT               | the place was given up (`DELETE …/place`)      |
 * | EVENT#{id}#STRIPE#{s}       | STRIPE             | sharded intake stripe: `c{slice}` tickets per slice, `sealedThrough` |
 * | EVENT#{id}#INTAKE           | BELL               | `rung`: the highest slice a join rang for      |
 * | EVENT#{id}#SLICES           | {slice:10}         | a settled slice: final counts per stripe, held numbers before it |
 * | EVENT#{id}#SLICES#{c}       | {slice:10}         | copies 1–3 of the same: every Lambda environment reads each settled slice once (decision 0010) |
 * | EVENT#{id}#LEAVES#{block}   | {pos:16}           | a voided waiting place (the admitter skips it) |
 * | EVENT#{id}#LEAVES#{block}#{c} | {pos:16}         | copies 1–15 of the same, written in the same transaction: status reads any one (decision 0010) |
 * | EVENT#{id}#LINE             | LINE               | `b{block}`: leaves per block of positions, for `ahead` |
 * | EVENT#{id}#CONN#{shard}     | {connectionId}     | an open WebSocket connection (shard = hash of the id) |
 * | WSCONN#{connectionId}       | CONN               | which event, shard and place a connection is stored under; its message count per window |
 * | EVENT#{id}#PLACECONN#{pos}  | {connectionId}     | the open connections of one place (the per-place cap), with `connectedAtMs` |
 * | EVENT#{id}#DEVICES          | {pos:12}#{device}  | a push registration; range queries by position |
 * | ACTIVE_EVENTS               | {id}               | events the admitter ticks                      |
 * | RL#{key}#{windowStart}      | RL                 | join rate-limit window count                   |
 * | KEYRING                     | PUBLIC             | public half of the signing key ring (kids, public JWKs, active/next/retired), written by the key rotation only |
 *
 * Sharded intake (decision 0008) writes only stripe items (256 partitions) and, once
 * per stripe and slice, the bell; never META. Its hot reads (join, status, the public
 * document, WebSocket connects) go to one of 16 copies the admitter publishes every tick,
 * each cached per process for a second.
 * Claims, completes and leaves of admitted places (about one per admitted fan each) go
 * to one of 32 release stripes at random, each with its own seal and counts, so no item
 * takes more than a thirty-second of them (decision 0010); the admitter seals and sums all.
 * The join counter lives apart from META so that joins (non-transactional ADDs)
 * never collide with the transactions of claims and ticks. User, place and
 * connection items have partition keys of their own (or sharded ones) so a hot
 * event's writes spread out. KEYRING is a partition of its own so that IAM can
 * grant exactly it (`dynamodb:LeadingKeys`) to functions that may not read the rest.
 *
 * This file holds only the key layout, free of the AWS SDK, so the CDK construct grants IAM on
 * the same partitions without loading a client; `dynamo-table.ts` re-exports all of it.
 */

export const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const keys = {
  eventPk: (id: string) => `EVENT#${id}`,
  batchSk: (to: number) => `ADM#${pad(to, 16)}`,
  bucketSk: (sec: number) => `REL#${pad(sec, 10)}`,
  releasePk: (id: string, stripe: number) => `EVENT#${id}#REL#${stripe}`,
  releaseSeal: (id: string, stripe: number) => ({ pk: `EVENT#${id}#REL#${stripe}`, sk: 'SEAL' }),
  releaseBucket: (id: string, stripe: number, sec: number) => ({
    pk: `EVENT#${id}#REL#${stripe}`,
    sk: pad(sec, 10),
  }),
  user: (id: string, userId: string) => ({ pk: `EVENT#${id}#USER#${userId}`, sk: 'USER' }),
  place: (id: string, pos: number) => ({ pk: `EVENT#${id}#PLACE#${pos}`, sk: 'SESSION' }),
  left: (id: string, pos: number) => ({ pk: `EVENT#${id}#PLACE#${pos}`, sk: 'LEFT' }),
  stripe: (id: string, stripe: number) => ({ pk: `EVENT#${id}#STRIPE#${stripe}`, sk: 'STRIPE' }),
  bell: (id: string) => ({ pk: `EVENT#${id}#INTAKE`, sk: 'BELL' }),
  /** Copy 0 is the one the admitter reads (and the only one of slices settled before copies). */
  slicesPk: (id: string, copy = 0) => (copy === 0 ? `EVENT#${id}#SLICES` : `EVENT#${id}#SLICES#${copy}`),
  sliceSk: (slice: number) => pad(slice, 10),
  /** Copy 0 is the one the admitter reads (and the only one events from before copies have). */
  leavesPk: (id: string, block: number, copy = 0) =>
    copy === 0 ? `EVENT#${id}#LEAVES#${block}` : `EVENT#${id}#LEAVES#${block}#${copy}`,
  leaveSk: (pos: number) => pad(pos, 16),
  line: (id: string) => ({ pk: `EVENT#${id}#LINE`, sk: 'LINE' }),
  meta: (id: string) => ({ pk: `EVENT#${id}`, sk: 'META' }),
  view: (id: string, copy: number) => ({ pk: `EVENT#${id}#VIEW#${copy}`, sk: 'VIEW' }),
  counter: (id: string) => ({ pk: `EVENT#${id}`, sk: 'COUNTER' }),
  counts: (id: string) => ({ pk: `EVENT#${id}`, sk: 'COUNTS' }),
  pushCursor: (id: string) => ({ pk: `EVENT#${id}`, sk: 'PUSHCURSOR' }),
  seal: (id: string) => ({ pk: `EVENT#${id}`, sk: 'SEAL' }),
  connectionPk: (id: string, shard: number) => `EVENT#${id}#CONN#${shard}`,
  connectionRef: (connectionId: string) => ({ pk: `WSCONN#${connectionId}`, sk: 'CONN' }),
  placeConnectionPk: (id: string, pos: number) => `EVENT#${id}#PLACECONN#${pos}`,
  placeConnection: (id: string, pos: number, connectionId: string) => ({
    pk: `EVENT#${id}#PLACECONN#${pos}`,
    sk: connectionId,
  }),
  fanoutCursor: (id: string, shard: number) => ({ pk: `EVENT#${id}`, sk: `FANOUT#${shard}` }),
  devicesPk: (id: string) => `EVENT#${id}#DEVICES`,
  deviceSk: (pos: number, device: string) => `${pad(pos, 16)}#${device}`,
  activePk: 'ACTIVE_EVENTS',
  rateLimit: (key: string, windowStart: number) => ({ pk: `RL#${key}#${windowStart}`, sk: 'RL' }),
  publicKeys: { pk: 'KEYRING', sk: 'PUBLIC' },
} as const;

/**
 * The partitions above as IAM `dynamodb:LeadingKeys` patterns (StringLike), so infra
 * grants each function only the partitions it touches. Event ids hold no `#` and user
 * ids no `#` either (shared/domain/user.ts), so a pattern never reaches another kind.
 */
export const partitionPatterns = {
  /** Every partition of an event: META and its neighbours, users, places, connections, devices. */
  events: 'EVENT#*',
  /** A place's own items (its session, its leave marker): `EVENT#{id}#PLACE#{pos}`. */
  places: 'EVENT#*#PLACE#*',
  connections: 'EVENT#*#CONN#*',
  placeConnections: 'EVENT#*#PLACECONN#*',
  connectionRefs: 'WSCONN#*',
  activeEvents: keys.activePk,
  rateLimits: 'RL#*',
  publicKeys: keys.publicKeys.pk,
} as const;
