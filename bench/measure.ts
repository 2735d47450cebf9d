/** Small measuring helpers shared by the bench parts: percentiles, CPU time, machine facts. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, freemem, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

/** A figure as it goes into results/latest.json: always a number with its unit, and what it counts when the unit alone does not say. */
export interface Figure {
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export function figure(
  value: number,
  unit: string,
  options: { digits?: number; note?: string } = {},
): Figure {
  const scale = 10 ** (options.digits ?? 2);
  return { value: Math.round(value * scale) / scale, unit, ...(options.note ? { note: options.note } : {}) };
}

/** Nearest-rank percentile of an ascending-sorted sample. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

const tempDirs: string[] = [];

/** A fresh folder under the OS temp dir (e.g. for a throwaway key ring), removed when this process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (tempDirs.length === 0) {
    process.once('exit', () => {
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  tempDirs.push(dir);
  return dir;
}

/** Process CPU (user + system, every thread of this process, libuv pool included) in µs. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

export function nowMs(): number {
  return performance.now();
}

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC on Linux, through
 * libuv): unlike performance.now() it has no per-process origin, so stamps taken in
 * two processes on the same machine can be subtracted (the fan-out part times a tick
 * commit in the app process against receipts in the client process).
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * TCP sockets of this process that are in use right now: the http Agent unrefs the
 * sockets it keeps idle, so this counts the ones carrying a request.
 */
export function busyTcpSockets(): number {
  let n = 0;
  for (const kind of process.getActiveResourcesInfo()) if (kind === 'TCPSocketWrap') n++;
  return n;
}

/** Time of all cores together (clock ticks): busy, stolen by the hypervisor, and the total. */
export interface CoreTimes {
  readonly busy: number;
  readonly steal: number;
  readonly total: number;
}

/**
 * From the `cpu` line of /proc/stat where there is one (it has softirq and steal,
 * which os.cpus() leaves out), else from os.cpus().
 */
export function coreTimes(): CoreTimes {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const busy = user + nice + system + irq + softirq;
    return { busy, steal, total: busy + idle + iowait + steal };
  } catch {
    let busy = 0;
    let total = 0;
    for (const cpu of cpus()) {
      const { user, nice, sys, idle, irq } = cpu.times;
      busy += user + nice + sys + irq;
      total += user + nice + sys + idle + irq;
    }
    return { busy, steal: 0, total };
  }
}

/** Share of all cores' time the hypervisor gave to other guests between two samples, in percent. */
export function machineStealPercent(before: CoreTimes, after: CoreTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (100 * (after.steal - before.steal)) / total : Number.NaN;
}

/** Share of all cores' time that was busy between two samples, in percent of the whole machine. */
export function machineBusyPercent(before: CoreTimes, after: CoreTimes): number {
  const total = after.total - before.total;
  return total > 0 ? (100 * (after.busy - before.busy)) / total : Number.NaN;
}

/** Clock ticks per second of /proc/<pid>/stat times (100 on every common Linux). */
function clockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process from /proc, in µs; undefined when it is gone or not on Linux. */
function procCpuMicros(pid: number, ticksPerSecond: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is [0], utime [11], stime [12] (man 5 proc).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of a direct child of this process whose command name is `comm` (e.g. the
 * DynamoDB Local JVM, `java`), read from /proc; undefined where there is no /proc.
 * Resolution is one clock tick (10 ms), fine over a run of seconds.
 */
export function childCpuReader(comm: string): (() => number) | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && ppid === process.pid) {
        const pid = Number(entry);
        const ticks = clockTicks();
        return () => procCpuMicros(pid, ticks) ?? Number.NaN;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** How busy the machine is before the bench starts (other people's builds and tests skew every figure). */
export async function backgroundLoad(sampleMs = 1_000) {
  const before = coreTimes();
  await new Promise((resolve) => setTimeout(resolve, sampleMs));
  const after = coreTimes();
  const busy = machineBusyPercent(before, after);
  const [one = 0, five = 0] = loadavg();
  return {
    machineBusyBeforeStart: figure(busy, '%', {
      digits: 0,
      note: `all cores, sampled over ${sampleMs} ms before the run`,
    }),
    stolenBeforeStart: figure(machineStealPercent(before, after), '%', {
      digits: 0,
      note: `all cores time stolen by the hypervisor, sampled over ${sampleMs} ms before the run`,
    }),
    loadAverage1m: figure(one, 'runnable processes', { note: '1 minute load average at start' }),
    loadAverage5m: figure(five, 'runnable processes', { note: '5 minute load average at start' }),
  };
}

export function machineInfo() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    logicalCores: list.length,
    availableParallelism: availableParallelism(),
    memoryTotalMiB: Math.round(totalmem() / 2 ** 20),
    memoryFreeAtStartMiB: Math.round(freemem() / 2 ** 20),
    os: `${platform()} ${release()}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
  };
}

/** Lets the event loop and GC settle between parts so one part's garbage is not billed to the next. */
export async function settle(ms = 200): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
