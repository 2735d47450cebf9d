/**
 * The run as one SVG page, hand-written (no dependency): queue length, admissions per
 * second, joins accepted and throttled per second, estimated against actual wait, and
 * throttles by kind. Times are virtual seconds since the sale opened.
 */
import type { SimulationRecord } from './simulation.ts';

const WIDTH = 960;
const PANEL = 230;
const MARGIN = { left: 70, right: 20, top: 34, bottom: 34 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

interface Line {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Dots instead of a line (a scatter). */
  readonly dots?: boolean;
}

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step for axis ticks. */
function step(max: number): number {
  if (max <= 0) return 1;
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 5, 10].find((m) => m * power >= raw) ?? 10;
  return unit * power;
}

function format(value: number): string {
  if (Math.abs(value) >= 1e6) return `${Math.round(value / 1e5) / 10}M`;
  if (Math.abs(value) >= 1e3) return `${Math.round(value / 100) / 10}k`;
  return String(Math.round(value * 100) / 100);
}

function panel(
  y0: number,
  title: string,
  lines: readonly Line[],
  options: {
    xLabel: string;
    yLabel: string;
    xMax?: number;
    diagonal?: boolean;
    legendStep?: number;
    /** Values above it are drawn at it. */
    yCap?: number;
  },
): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL - MARGIN.top - MARGIN.bottom;
  const all = lines.flatMap((l) => l.points);
  const xMax = options.xMax ?? Math.max(1, ...all.map(([x]) => x));
  const yMaxRaw = Math.min(options.yCap ?? Number.POSITIVE_INFINITY, Math.max(1, ...all.map(([, y]) => y)));
  const yStep = step(yMaxRaw);
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;
  const xStep = step(xMax);
  const sx = (x: number) => MARGIN.left + (Math.min(x, xMax) / xMax) * plotW;
  const sy = (y: number) => y0 + MARGIN.top + plotH - (Math.min(y, yMax) / yMax) * plotH;
  const parts: string[] = [
    `<text x="${MARGIN.left}" y="${y0 + 20}" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${MARGIN.left}" y="${y0 + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  ];
  for (let y = 0; y <= yMax; y += yStep)
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" font-size="11" text-anchor="end">${format(y)}</text>`,
    );
  for (let x = 0; x <= xMax; x += xStep)
    parts.push(
      `<text x="${sx(x)}" y="${y0 + PANEL - 14}" font-size="11" text-anchor="middle">${format(x)}</text>`,
    );
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${y0 + PANEL - 1}" font-size="11" text-anchor="middle">${esc(options.xLabel)}</text>`,
    `<text x="14" y="${y0 + MARGIN.top + plotH / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${y0 + MARGIN.top + plotH / 2})">${esc(options.yLabel)}</text>`,
  );
  if (options.diagonal)
    parts.push(
      `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(Math.min(xMax, yMax))}" y2="${sy(Math.min(xMax, yMax))}" stroke="#aaa" stroke-dasharray="4 3"/>`,
    );
  lines.forEach((line, i) => {
    const color = COLORS[i % COLORS.length];
    if (line.dots) {
      for (const [x, y] of line.points)
        parts.push(
          `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="1.6" fill="${color}" fill-opacity="0.5"/>`,
        );
    } else if (line.points.length > 0) {
      const d = line.points
        .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.4"/>`);
    }
    const step = options.legendStep ?? 190;
    parts.push(
      `<rect x="${MARGIN.left + 10 + i * step}" y="${y0 + MARGIN.top + 6}" width="10" height="10" fill="${color}"/>`,
      `<text x="${MARGIN.left + 24 + i * step}" y="${y0 + MARGIN.top + 15}" font-size="11">${esc(line.name)}</text>`,
    );
  });
  return parts.join('\n');
}

/** Per-second values as points, holes as zeros, up to `until`. */
function perSecond(values: readonly number[], until = values.length): [number, number][] {
  return Array.from({ length: until }, (_, s) => [s, values[s] ?? 0] as [number, number]);
}

export function chartsSvg(record: SimulationRecord, title: string): string {
  const { perSecond: series, fans, scenario } = record;
  const horizon = scenario.durationSeconds;
  // Per-second series are sparse (seconds with nothing are holes): scan them, holes as zeros.
  let lastJoin = 10;
  const { joinsAccepted, joinsThrottled } = series;
  for (let s = 0; s < Math.max(joinsAccepted.length, joinsThrottled.length); s++)
    if ((joinsAccepted[s] ?? 0) > 0 || (joinsThrottled[s] ?? 0) > 0) lastJoin = Math.max(lastJoin, s);
  const joinWindow = Math.min(horizon, lastJoin + 10);
  // A deterministic sample of fans for the scatter: every k-th admitted fan.
  const scatter: [number, number][] = [];
  const admittedFans: number[] = [];
  for (let fan = 0; fan < record.crowd.size; fan++)
    if (
      !Number.isNaN(fans.admittedAt[fan] ?? Number.NaN) &&
      !Number.isNaN(fans.estimateAtJoin[fan] ?? Number.NaN)
    )
      admittedFans.push(fan);
  const every = Math.max(1, Math.floor(admittedFans.length / 1500));
  for (let k = 0; k < admittedFans.length; k += every) {
    const fan = admittedFans[k] ?? 0;
    const actual = ((fans.admittedAt[fan] ?? 0) - (fans.acceptedAt[fan] ?? 0)) / 1000;
    scatter.push([actual, fans.estimateAtJoin[fan] ?? 0]);
  }
  const waiting: [number, number][] = [];
  const w = record.waitingEstimates;
  const wEvery = Math.max(1, Math.floor(w.fan.length / 1500));
  for (let i = 0; i < w.fan.length; i += wEvery) {
    const admitted = fans.admittedAt[w.fan[i] ?? -1] ?? Number.NaN;
    const estimate = w.estimate[i] ?? Number.NaN;
    if (Number.isNaN(admitted) || Number.isNaN(estimate)) continue;
    waiting.push([(admitted - (w.atMs[i] ?? 0)) / 1000, estimate]);
  }
  const panels = [
    panel(
      0,
      'Queue length (joined, not yet admitted, not left)',
      [{ name: 'waiting', points: perSecond(series.queueLength, horizon) }],
      {
        xLabel: 'seconds since the sale opened',
        yLabel: 'fans',
      },
    ),
    panel(
      PANEL,
      'Admissions per second',
      [{ name: 'admitted', points: perSecond(series.admitted, horizon) }],
      {
        xLabel: 'seconds',
        yLabel: 'places / s',
      },
    ),
    panel(
      2 * PANEL,
      'Joins per second: accepted and refused (429/503)',
      [
        { name: 'accepted', points: perSecond(series.joinsAccepted, joinWindow) },
        { name: 'throttled', points: perSecond(series.joinsThrottled, joinWindow) },
      ],
      { xLabel: 'seconds', yLabel: 'joins / s', xMax: joinWindow },
    ),
    panel(
      3 * PANEL,
      'Estimated against actual wait (sample of admitted fans)',
      [
        { name: 'at join', points: scatter, dots: true },
        { name: 'while waiting (polls)', points: waiting, dots: true },
      ],
      { xLabel: 'actual wait (s)', yLabel: 'estimate (s)', diagonal: true },
    ),
    panel(
      4 * PANEL,
      'Throttles per second by kind (requests)',
      [
        { name: 'API Gateway 429', points: perSecond(series.throttles.apiGateway, horizon) },
        { name: 'Lambda concurrency', points: perSecond(series.throttles.lambdaConcurrency, horizon) },
        { name: 'Lambda scaling', points: perSecond(series.throttles.lambdaScaling, horizon) },
        { name: 'DynamoDB (503)', points: perSecond(series.throttles.dynamodb, horizon) },
      ],
      { xLabel: 'seconds', yLabel: 'requests / s' },
    ),
  ];
  // The waiting model (issue 8): what pages show, and what reaches the quotas.
  const model = record.waiting;
  if (model) {
    const from = Math.floor(model.measureFromMs / 1000);
    const meter = record.apiGateway.meter;
    const over = (values: readonly number[], start = 0) =>
      Array.from(
        { length: horizon - start },
        (_, i) => [start + i, values[start + i] ?? 0] as [number, number],
      );
    /** Means over 10 s: sampled requests make single seconds lumpy. */
    const smooth = (values: readonly number[]) => {
      const out: number[] = [];
      for (let s = 0; s < horizon; s++) {
        let sum = 0;
        for (let k = Math.max(0, s - 9); k <= s; k++) sum += values[k] ?? 0;
        out[s] = sum / Math.min(10, s + 1);
      }
      return out;
    };
    panels.push(
      panel(
        5 * PANEL,
        "Staleness of the shown 'ahead': p99 of each second's samples, by distance band",
        model.bands.map((band, i) => ({
          name: `ahead ${band.label}`,
          points: over(model.stalenessSeries[i] ?? [], from),
        })),
        { xLabel: 'seconds', yLabel: 'seconds stale (cut at 60)', legendStep: 160, yCap: 60 },
      ),
      panel(
        6 * PANEL,
        'Requests per second against the default quotas (10 s means)',
        [
          { name: 'API Gateway account (10k)', points: over(smooth(meter.series('limit:account'))) },
          { name: 'HTTP stage (2k)', points: over(smooth(meter.series('limit:httpStage'))) },
          { name: 'WebSocket stage (1k)', points: over(smooth(meter.series('limit:webSocketStage'))) },
          { name: 'new connections (500)', points: over(smooth(meter.series('limit:webSocketConnects'))) },
        ],
        { xLabel: 'seconds', yLabel: 'requests / s', legendStep: 200 },
      ),
      panel(
        7 * PANEL,
        'WebSocket connections open, and CloudFront requests per second (10 s means)',
        [
          { name: 'connections open', points: over(model.openConnections) },
          { name: 'CloudFront requests / s', points: over(smooth(meter.series('cloudfront:requests'))) },
        ],
        { xLabel: 'seconds', yLabel: 'connections · requests / s' },
      ),
    );
  }
  const height = panels.length * PANEL + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="${height - 8}" font-size="12" text-anchor="middle" fill="#555">${esc(title)}</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
