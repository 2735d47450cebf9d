import { loadScenario } from './bench/simulate/scenario.ts';
import { simulate } from './bench/simulate/simulation.ts';
const s = loadScenario('bench/scenarios/onsale-1m.json');
const scenario = { ...s, crowd: { ...s.crowd, fans: 200_000, pollerShare: 0.05, arrival: { ...s.crowd.arrival, spikePerSecond: 20000 } }, event: { ...s.event, capacity: 4000, admitPerMinute: 12000 } } as typeof s;
const r = await simulate(scenario);
const f = r.fans;
const bins = new Map<number, number[]>();
for (let i = 0; i < r.crowd.size; i++) {
  const a = f.admittedAt[i] ?? NaN, acc = f.acceptedAt[i] ?? NaN;
  if (!Number.isFinite(a) || !Number.isFinite(acc)) continue;
  const actual = (a - acc) / 1000;
  const est = f.estimateAtJoin[i] ?? NaN;
  const bin = Math.floor(acc / 10000) * 10;
  if (!bins.has(bin)) bins.set(bin, []);
  bins.get(bin)?.push((est - actual) / Math.max(actual, 5));
  if ((est - actual) / Math.max(actual, 5) < -0.8 && Math.random() < 0.01) console.log(`outlier acc=${(acc/1000).toFixed(2)} pos=${f.position[i]} est=${est} actual=${actual.toFixed(1)}`);
}
for (const [bin, v] of [...bins].sort((a, b) => a[0] - b[0])) {
  v.sort((a, b) => a - b);
  console.log(`join t=${bin}s n=${v.length} p10=${v[Math.floor(v.length*0.1)]?.toFixed(2)} med=${v[Math.floor(v.length/2)]?.toFixed(2)} p90=${v[Math.floor(v.length*0.9)]?.toFixed(2)}`);
}
