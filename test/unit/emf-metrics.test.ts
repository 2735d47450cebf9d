/**
 * The CloudWatch side of metrics: Powertools writes embedded-metric-format log
 * lines; the alarms read the service-wide figures, the dashboard the per-event ones.
 */
import { afterEach, expect, test, vi } from 'vitest';
import { EmfMetrics } from '#adapters/emf-metrics';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The EMF objects written to stdout while `run` runs. */
function captureEmf(run: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

interface Emf {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

test('a flush writes the totals under `service` and each event under `service` + `eventId`', () => {
  const metrics = new EmfMetrics({ namespace: 'fairqueue', serviceName: 'Fairqueue-prod' });
  const out = captureEmf(() => {
    metrics.record('Joins', 1);
    metrics.record('Joins', 1);
    metrics.record('JoinLatency', 12.5);
    metrics.record('QueueLength', 40, 'spring-tour');
    metrics.record('QueueLength', 2, 'jazz-night');
    metrics.record('QueueLength', 42);
    metrics.flush();
  }) as unknown as Emf[];
  expect(out).toHaveLength(3);
  const [total, ...events] = out;
  expect(total?._aws.CloudWatchMetrics[0]).toMatchObject({
    Namespace: 'fairqueue',
    Dimensions: [['service']],
  });
  expect(total).toMatchObject({
    service: 'Fairqueue-prod',
    Joins: [1, 1],
    JoinLatency: 12.5,
    QueueLength: 42,
  });
  expect(total?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({
    Name: 'JoinLatency',
    Unit: 'Milliseconds',
  });
  expect(events.map((e) => [e.eventId, e.QueueLength])).toEqual([
    ['spring-tour', 40],
    ['jazz-night', 2],
  ]);
  for (const event of events)
    expect(event._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'eventId']]);
});

test('a flush with nothing recorded writes nothing, and what was flushed is not written twice', () => {
  const metrics = new EmfMetrics({ namespace: 'fairqueue', serviceName: 'fairqueue' });
  expect(captureEmf(() => metrics.flush())).toEqual([]);
  const first = captureEmf(() => {
    metrics.record('Admitted', 3, 'e1');
    metrics.flush();
  });
  expect(first).toHaveLength(1);
  expect(captureEmf(() => metrics.flush())).toEqual([]);
});

test('a metric not kept per event goes to the totals even when an event is named', () => {
  const metrics = new EmfMetrics({ namespace: 'fairqueue', serviceName: 'fairqueue' });
  const out = captureEmf(() => {
    metrics.record('Throttled', 1, 'e1');
    metrics.flush();
  });
  expect(out).toHaveLength(1);
  expect(out[0]).toMatchObject({ Throttled: 1 });
  expect(out[0]).not.toHaveProperty('eventId');
});
