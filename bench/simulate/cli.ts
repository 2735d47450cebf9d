/**
 * `npm run simulate -- <scenario.json> [more.json …]`: runs each scenario, writes
 * bench/results/simulate/<name>.json, <name>.svg and <name>.png, prints progress to stderr and, as
 * the last line of stdout, the summary of the (last) scenario as one JSON object.
 * `npm run simulate:all` runs every file in bench/scenarios.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { chartsSvg } from './charts.ts';
import { idleCost } from './idle.ts';
import { loadPrices } from './prices.ts';
import { buildReport } from './report.ts';
import { loadScenario } from './scenario.ts';
import { simulate } from './simulation.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results', 'simulate');
const SCENARIOS = join(ROOT, 'bench', 'scenarios');

/** The same charts as PNG (resvg: prebuilt, no install script), with the system's fonts. */
function toPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
}

async function main(argv: string[]): Promise<number> {
  const files =
    argv[0] === '--all'
      ? readdirSync(SCENARIOS)
          .filter((f) => f.endsWith('.json'))
          .sort()
          .map((f) => join(SCENARIOS, f))
      : argv;
  if (files.length === 0) {
    process.stderr.write(
      'usage: npm run simulate -- <scenario.json> [more.json …]   (or npm run simulate:all)\n',
    );
    return 2;
  }
  const prices = loadPrices();
  const idle = await idleCost(prices);
  mkdirSync(RESULTS, { recursive: true });
  let last: unknown;
  for (const file of files) {
    const scenario = loadScenario(file);
    process.stderr.write(
      `simulating ${scenario.name} (${scenario.crowd.fans} fans, ${scenario.durationSeconds} s)\n`,
    );
    const started = performance.now();
    const cpu = process.cpuUsage();
    const record = await simulate(scenario, { log: (line) => process.stderr.write(`${line}\n`) });
    const wallSeconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const report = buildReport(record, prices, idle, {
      wallSeconds,
      cpuSeconds,
      loadAverage: loadavg()[0] ?? 0,
    });
    const out = join(RESULTS, `${scenario.name}.json`);
    writeFileSync(out, `${JSON.stringify({ summary: report.summary, ...report.details }, null, 2)}\n`);
    const svg = chartsSvg(record, `${scenario.name}: ${scenario.description}`.slice(0, 150));
    writeFileSync(join(RESULTS, `${scenario.name}.svg`), svg);
    writeFileSync(join(RESULTS, `${scenario.name}.png`), toPng(svg));
    process.stderr.write(
      `  ${wallSeconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU, ${record.wall.events} events, ${record.wall.spins} extra drains (${record.wall.waitedMs.toFixed(0)} ms waited) → ${out}\n`,
    );
    last = report.summary;
  }
  process.stdout.write(`${JSON.stringify(last)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`simulate: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof Error && error.stack && !error.message.startsWith('invalid scenario'))
      process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
