/**
 * The operator page at `/admin`: every event (list and create), the chosen event's live
 * numbers and charts, its settings, and pause / resume / close behind a confirmation.
 *
 * Only the operator routes are used (`Authorization: Bearer <admin token>` locally). The
 * stats route is polled every few seconds; the charts keep a rolling history in the page,
 * seeded from the server's `recentTicks` (admissions and slots in use), and placed on the
 * server's clock (`stats.at`, `tick.at`), so the two line up whatever the browser's clock says.
 */
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';

const POLL_MS = 2_000;
/** How much history a chart shows (seconds of server time). */
const HISTORY_SECONDS = 30 * 60;
const EVENT_ID = /^[a-zA-Z0-9_-]{1,64}$/;

interface EventConfig {
  eventId: string;
  state: 'open' | 'paused' | 'closed';
  capacity: number;
  admitPerMinute: number | null;
  purchaseWindowSeconds: number;
  claimWindowSeconds: number;
  positionTtlSeconds: number;
  nearThreshold: number;
  expectedPurchaseSeconds: number | null;
  intake: string;
}

interface Tick {
  at: number;
  from: number;
  to: number;
  admitted: number;
  inUse?: number;
}

interface Stats {
  eventId: string;
  at?: number;
  state: string;
  intake: string;
  issued: number;
  servingPosition: number;
  waiting: number;
  admittedUnclaimed: number;
  active: number;
  completed: number;
  expired: number;
  missed: number;
  capacity: number;
  admitRatePerMinute: number;
  recentTicks: Tick[];
}

/** One point of a chart's history: server time, then a value per series (null: a gap). */
type Row = [number, ...(number | null)[]];

interface ChartDef {
  readonly key: 'queue' | 'rate' | 'sessions' | 'wait';
  readonly series: readonly { label: string; stroke: string; fill?: string }[];
  readonly unit: string;
}

const CHARTS: readonly ChartDef[] = [
  { key: 'queue', series: [{ label: 'Waiting', stroke: '#2f5bd3', fill: 'rgba(47,91,211,.12)' }], unit: '' },
  { key: 'rate', series: [{ label: 'Admitted / min', stroke: '#1a7f4b' }], unit: '/min' },
  {
    key: 'sessions',
    series: [
      { label: 'Slots in use', stroke: '#7b3fb0', fill: 'rgba(123,63,176,.1)' },
      { label: 'Active', stroke: '#d07a00' },
    ],
    unit: '',
  },
  { key: 'wait', series: [{ label: 'Wait (min)', stroke: '#b3261e' }], unit: ' min' },
];

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
};
const input = (id: string) => $<HTMLInputElement>(id);

// --- errors --------------------------------------------------------------------------

// A refused operator action's message stays until the operator acts again; the background
// refresh only clears a message it showed itself.
let errorFromRefresh = false;
function showError(message: string, fromRefresh: boolean) {
  $('error').textContent = message;
  errorFromRefresh = fromRefresh;
}
function clearError() {
  $('error').textContent = '';
  errorFromRefresh = false;
}

/** The answer's JSON, or null after showing why the call failed. */
async function admin<T>(
  method: string,
  path: string,
  body?: unknown,
  fromRefresh = false,
): Promise<T | null> {
  let res: Response;
  try {
    res = await fetch(`/v1/admin/events${path}`, {
      method,
      headers: {
        authorization: `Bearer ${input('admin-token').value}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    showError('The server cannot be reached.', fromRefresh);
    return null;
  }
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    showError(error ? `${error.message} (${error.code})` : `HTTP ${res.status}`, fromRefresh);
    return null;
  }
  if (!fromRefresh || errorFromRefresh) clearError();
  return data as T;
}

// --- the events list -------------------------------------------------------------------

let events: EventConfig[] = [];
let selected: string | null = null;

async function loadEvents(fromRefresh = true) {
  const answer = await admin<{ events: EventConfig[] }>('GET', '', undefined, fromRefresh);
  events = answer?.events ?? [];
  renderEvents();
}

function renderEvents() {
  const body = $('events');
  body.replaceChildren();
  for (const event of events) {
    const tr = document.createElement('tr');
    tr.dataset.eventId = event.eventId;
    if (event.eventId === selected) tr.setAttribute('aria-current', 'true');
    const idCell = document.createElement('td');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'secondary';
    open.textContent = event.eventId;
    open.setAttribute('aria-label', `Show event ${event.eventId}`);
    open.addEventListener('click', () => select(event.eventId));
    idCell.appendChild(open);
    tr.appendChild(idCell);
    const state = document.createElement('td');
    state.appendChild(stateBadge(event.state));
    tr.appendChild(state);
    for (const value of [event.capacity, event.admitPerMinute ?? 'no cap', event.intake]) {
      const td = document.createElement('td');
      td.textContent = String(value);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $('events-empty').hidden = events.length > 0;
}

function stateBadge(state: string): HTMLElement {
  const span = document.createElement('span');
  setState(span, state);
  return span;
}

function setState(element: HTMLElement, state: string) {
  element.textContent = state;
  element.className = `state state-${state}`;
}

// --- the chosen event ------------------------------------------------------------------

/** Rows per chart, oldest first; cleared when another event is chosen. */
const history: Record<ChartDef['key'], Row[]> = { queue: [], rate: [], sessions: [], wait: [] };
const plots: Partial<Record<ChartDef['key'], uPlot>> = {};

async function select(eventId: string) {
  selected = eventId;
  for (const rows of Object.values(history)) rows.length = 0;
  for (const plot of Object.values(plots)) plot.setData(emptyData(plot.series.length));
  $('event-name').textContent = eventId;
  for (const id of ['event-card', 'charts-card', 'config-card', 'ticks-card']) $(id).hidden = false;
  $('config-saved').textContent = '';
  renderEvents();
  const config = events.find((event) => event.eventId === eventId);
  if (config) fillConfig(config);
  ensurePlots();
  await refreshStats(false);
}

function fillConfig(config: EventConfig) {
  input('capacity').value = String(config.capacity);
  input('rate').value = config.admitPerMinute === null ? '' : String(config.admitPerMinute);
  input('purchaseWindowSeconds').value = String(config.purchaseWindowSeconds);
  input('claimWindowSeconds').value = String(config.claimWindowSeconds);
  input('positionTtlSeconds').value = String(config.positionTtlSeconds);
  input('nearThreshold').value = String(config.nearThreshold);
  input('expectedPurchaseSeconds').value =
    config.expectedPurchaseSeconds === null ? '' : String(config.expectedPurchaseSeconds);
}

const STAT_IDS = [
  's-waiting',
  's-admitted',
  's-active',
  's-rate',
  's-wait',
  's-issued',
  's-serving',
  's-completed',
  's-expired',
  's-missed',
  's-intake',
];

/** Minutes until the last one waiting is admitted at the observed rate; null while unknown. */
function backOfLineMinutes(stats: Stats): number | null {
  if (stats.waiting === 0) return 0;
  if (stats.admitRatePerMinute <= 0) return null;
  return Math.round((stats.waiting / stats.admitRatePerMinute) * 10) / 10;
}

let refreshing = false;

async function refreshStats(fromRefresh = true) {
  const eventId = selected;
  if (!eventId || refreshing) return;
  refreshing = true;
  try {
    const stats = await admin<Stats>('GET', `/${encodeURIComponent(eventId)}/stats`, undefined, fromRefresh);
    if (eventId !== selected) return;
    if (!stats) {
      // Numbers of a token that no longer works would mislead.
      for (const id of STAT_IDS) $(id).textContent = '–';
      setState($('s-state'), '–');
      $('ticks').replaceChildren();
      return;
    }
    showStats(stats);
    record(stats);
  } finally {
    refreshing = false;
  }
}

function showStats(stats: Stats) {
  const set = (id: string, value: string | number) => {
    $(id).textContent = String(value);
  };
  setState($('s-state'), stats.state);
  set('s-waiting', stats.waiting);
  set('s-admitted', stats.admittedUnclaimed);
  set('s-active', stats.active);
  set('s-rate', stats.admitRatePerMinute);
  const wait = backOfLineMinutes(stats);
  set('s-wait', wait === null ? 'unknown' : `${wait} min`);
  set('s-issued', stats.issued);
  set('s-serving', stats.servingPosition);
  set('s-completed', stats.completed);
  set('s-expired', stats.expired);
  set('s-missed', stats.missed);
  set('s-intake', stats.intake);
  $('pause').toggleAttribute('disabled', stats.state !== 'open');
  $('resume').toggleAttribute('disabled', stats.state !== 'paused');
  $('close').toggleAttribute('disabled', stats.state === 'closed');
  // The list shows the state too: keep it in step without reloading every event.
  const listed = events.find((event) => event.eventId === stats.eventId);
  if (listed && listed.state !== stats.state) {
    listed.state = stats.state as EventConfig['state'];
    renderEvents();
  }
  const ticks = $('ticks');
  ticks.replaceChildren();
  for (const tick of [...stats.recentTicks].reverse().slice(0, 10)) {
    const tr = document.createElement('tr');
    for (const value of [new Date(tick.at * 1000).toLocaleTimeString(), tick.from, tick.to, tick.admitted]) {
      const td = document.createElement('td');
      td.textContent = String(value);
      tr.appendChild(td);
    }
    ticks.appendChild(tr);
  }
}

/**
 * Adds a row, keeping rows in time order and one per second, and drops what is too old. A
 * row from a tick does not replace one already there: a poll's row of that second says more.
 */
function add(rows: Row[], row: Row, replace = true) {
  const at = row[0];
  const index = rows.findIndex((r) => r[0] >= at);
  if (index === -1) rows.push(row);
  else if (rows[index]?.[0] === at) {
    if (replace) rows[index] = row;
  } else rows.splice(index, 0, row);
  const oldest = (rows[rows.length - 1]?.[0] ?? at) - HISTORY_SECONDS;
  while (rows.length > 0 && (rows[0]?.[0] ?? 0) < oldest) rows.shift();
}

/** Admitted in the minute up to `at`, from the ticks the server keeps. */
function admittedInMinute(ticks: readonly Tick[], at: number): number {
  return ticks.filter((t) => t.at > at - 60 && t.at <= at).reduce((sum, t) => sum + t.admitted, 0);
}

function record(stats: Stats) {
  const at = stats.at ?? Math.floor(Date.now() / 1000);
  // The server's ticks fill in what the polls missed (and, on the first poll, the sale so
  // far): admissions per minute, and slots in use after each tick.
  for (const tick of stats.recentTicks) {
    add(history.rate, [tick.at, admittedInMinute(stats.recentTicks, tick.at)], false);
    if (tick.inUse !== undefined) add(history.sessions, [tick.at, tick.inUse, null], false);
  }
  add(history.queue, [at, stats.waiting]);
  add(history.rate, [at, admittedInMinute(stats.recentTicks, at)]);
  add(history.sessions, [at, stats.active + stats.admittedUnclaimed, stats.active]);
  add(history.wait, [at, backOfLineMinutes(stats)]);
  drawAll();
}

// --- charts ----------------------------------------------------------------------------

function emptyData(seriesCount: number): uPlot.AlignedData {
  return Array.from({ length: seriesCount }, () => []) as unknown as uPlot.AlignedData;
}

function columns(rows: readonly Row[], seriesCount: number): uPlot.AlignedData {
  return Array.from({ length: seriesCount }, (_, i) =>
    rows.map((row) => row[i] ?? null),
  ) as uPlot.AlignedData;
}

function chartWidth(key: string): number {
  return Math.max(240, Math.floor($(`chart-${key}`).getBoundingClientRect().width));
}

function ensurePlots() {
  for (const def of CHARTS) {
    if (plots[def.key]) continue;
    const options: uPlot.Options = {
      width: chartWidth(def.key),
      height: 200,
      scales: {
        // At least a minute across, so a page opened a moment ago does not label milliseconds.
        x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60), max] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [{}, { size: 48 }],
      // Series names only: values under a moving cursor mean nothing to a screen reader or a phone.
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...def.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 2,
          spanGaps: true,
          ...(s.fill ? { fill: s.fill } : {}),
        })),
      ],
    };
    plots[def.key] = new uPlot(options, emptyData(def.series.length + 1), $(`chart-${def.key}`));
  }
}

function drawAll() {
  for (const def of CHARTS) {
    const plot = plots[def.key];
    if (!plot) continue;
    const rows = history[def.key];
    plot.setData(columns(rows, def.series.length + 1));
    const last = rows[rows.length - 1];
    const now = def.series
      .map((s, i) => `${s.label}: ${last?.[i + 1] ?? 'unknown'}${last?.[i + 1] == null ? '' : def.unit}`)
      .join(', ');
    $(`c-${def.key}-now`).textContent = `Now: ${now}`;
  }
}

new ResizeObserver(() => {
  for (const def of CHARTS) plots[def.key]?.setSize({ width: chartWidth(def.key), height: 200 });
}).observe($('charts-card'));

// --- actions ---------------------------------------------------------------------------

const CONFIRM_TEXT = {
  pause: (id: string) => `Pause ${id}? Joins go on, admissions stop until you resume.`,
  resume: (id: string) => `Resume ${id}? Admissions start again at the next tick.`,
  close: (id: string) =>
    `Close ${id} as sold out? Joins are refused and everyone waiting is told. This cannot be undone.`,
};

/** Resolves true when the operator confirms (the dialog's Confirm button), false otherwise. */
function confirmAction(action: keyof typeof CONFIRM_TEXT, eventId: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-h').textContent = `${action[0]?.toUpperCase()}${action.slice(1)} event`;
  $('confirm-text').textContent = CONFIRM_TEXT[action](eventId);
  const ok = $('confirm-ok');
  ok.textContent = action === 'close' ? 'Close event' : `${action[0]?.toUpperCase()}${action.slice(1)}`;
  ok.className = action === 'close' ? 'danger' : '';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

for (const action of ['pause', 'resume', 'close'] as const) {
  $(action).addEventListener('click', async () => {
    const eventId = selected;
    if (!eventId || !(await confirmAction(action, eventId))) {
      $(action).focus();
      return;
    }
    const config = await admin<EventConfig>('POST', `/${encodeURIComponent(eventId)}/${action}`, {});
    if (config) updateListed(config);
    await refreshStats(false);
    $(action).focus();
  });
}

function updateListed(config: EventConfig) {
  const index = events.findIndex((event) => event.eventId === config.eventId);
  if (index === -1) events.push(config);
  else events[index] = config;
  events.sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
  renderEvents();
}

const whole = (id: string): number | null => (input(id).value === '' ? null : Number(input(id).value));

$('config-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const eventId = selected;
  if (!eventId) return;
  const body = {
    capacity: whole('capacity'),
    admitPerMinute: whole('rate'),
    purchaseWindowSeconds: whole('purchaseWindowSeconds'),
    claimWindowSeconds: whole('claimWindowSeconds'),
    positionTtlSeconds: whole('positionTtlSeconds'),
    nearThreshold: whole('nearThreshold'),
    expectedPurchaseSeconds: whole('expectedPurchaseSeconds'),
  };
  $('config-saved').textContent = '';
  const config = await admin<EventConfig>('PUT', `/${encodeURIComponent(eventId)}`, body);
  if (!config) return;
  updateListed(config);
  fillConfig(config);
  $('config-saved').textContent = `Saved: applies from the next tick.`;
  await refreshStats(false);
});

$('create-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const eventId = input('new-id').value.trim();
  if (!EVENT_ID.test(eventId)) {
    showError('Event ids are 1 to 64 letters, digits, "_" or "-".', false);
    return;
  }
  if (events.some((event) => event.eventId === eventId)) {
    showError(`${eventId} exists already: choose it in the list to change it.`, false);
    return;
  }
  const rate = whole('new-rate');
  const config = await admin<EventConfig>('PUT', `/${encodeURIComponent(eventId)}`, {
    capacity: whole('new-capacity'),
    ...(rate === null ? {} : { admitPerMinute: rate }),
    intake: $<HTMLSelectElement>('new-intake').value,
  });
  if (!config) return;
  input('new-id').value = '';
  updateListed(config);
  await select(eventId);
  $('event-h').focus();
});

// Asked for by the operator: a failure here stays on screen like an action's.
$('refresh').addEventListener('click', async () => {
  await loadEvents(false);
  if (selected) await refreshStats(false);
});

// --- start -----------------------------------------------------------------------------

const style = document.createElement('style');
style.textContent = uplotCss;
document.head.appendChild(style);
$('event-h').tabIndex = -1;

/** For tests and the curious: the charts (their `data` is what is drawn) and the history. */
(window as unknown as { fairqueueAdmin: unknown }).fairqueueAdmin = { plots, history };

void loadEvents(false).then(async () => {
  const first = events.find((event) => event.eventId === 'demo') ?? events[0];
  if (first && !selected) await select(first.eventId);
});
setInterval(() => {
  void refreshStats();
}, POLL_MS);
// New events (another operator, a script) show up without a reload.
setInterval(() => {
  void loadEvents();
}, POLL_MS * 5);
