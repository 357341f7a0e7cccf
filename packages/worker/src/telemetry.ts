/**
 * A worker's metrics. Temporal's own (polls, task latencies, slots) and seqtrain's (steps,
 * samples, reduce time, data-plane bytes, checkpoint time, segments, restarts, backend) leave
 * through one exporter: the SDK runtime's Prometheus endpoint, which the runtime binds on a private
 * loopback port; the worker's HTTP listener (metrics-server.ts) serves it on SEQTRAIN_METRICS_PORT
 * beside /healthz and /readyz. seqtrain's metrics are recorded through the runtime's metric
 * meter, so a scrape sees both families at one consistent moment.
 */
import net from 'node:net';
import type { MetricMeter } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { TelemetryBatch } from './engine/protocol';

/** Per-step reduce times are milliseconds; checkpoints seconds. */
const REDUCE_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5];
const CHECKPOINT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export interface RuntimeTelemetry {
  /** host:port of the runtime's Prometheus endpoint; undefined when another runtime was installed first */
  prometheus: string | undefined;
}

let installed: RuntimeTelemetry | undefined;

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Installs the process-wide Temporal runtime once, before any connection: logging with WARN as
 * the floor (the SDK logs every worker state change at INFO; SEQTRAIN_LOG_LEVEL=debug restores
 * it) and the Prometheus exporter. A process that installed its own runtime first (a test) keeps
 * it, and its workers serve no Temporal metrics.
 */
export async function installRuntime(
  level: 'debug' | 'info' | 'warn' | 'error' = 'warn',
): Promise<RuntimeTelemetry> {
  if (installed) return installed;
  const temporalLevel: LogLevel = level === 'debug' ? 'INFO' : level === 'error' ? 'ERROR' : 'WARN';
  const bindAddress = `127.0.0.1:${await freeLoopbackPort()}`;
  if (installed) return installed;
  try {
    Runtime.install({
      logger: new DefaultLogger(temporalLevel),
      telemetryOptions: {
        logging: { forward: {}, filter: { core: temporalLevel, other: temporalLevel } },
        metrics: {
          prometheus: {
            bindAddress,
            countersTotalSuffix: true,
            useSecondsForDurations: true,
            histogramBucketOverrides: {
              seqtrain_reduce_seconds: REDUCE_BUCKETS,
              seqtrain_checkpoint_seconds: CHECKPOINT_BUCKETS,
            },
          },
        },
      },
    });
    installed = { prometheus: bindAddress };
  } catch {
    // Already installed by the host process (e.g. a test that configured its own runtime).
    installed = { prometheus: undefined };
  }
  return installed;
}

/**
 * seqtrain's own metrics of one worker, labelled with its id. Rates (steps/s, samples/s, bytes/s,
 * reduce time per step) are PromQL's rate() over these counters and histograms.
 */
export class WorkerMetrics {
  private readonly steps;
  private readonly samples;
  private readonly reduce;
  private readonly bytesSent;
  private readonly bytesReceived;
  private readonly checkpoint;
  private readonly segments;
  private readonly restarts;

  constructor(meter: MetricMeter, labels: { worker: string; role: string; backend?: string }) {
    const m = meter.withTags({ worker: labels.worker });
    this.steps = m.createCounter(
      'seqtrain_train_steps',
      'steps',
      'optimizer steps this trainer took part in',
    );
    this.samples = m.createCounter(
      'seqtrain_train_samples',
      'samples',
      'examples this trainer computed gradients for',
    );
    this.reduce = m.createHistogram(
      'seqtrain_reduce_seconds',
      'float',
      's',
      'per step: time in the gradient exchange (send, wait for the neighbours, combine)',
    );
    this.bytesSent = m.createCounter(
      'seqtrain_dataplane_sent_bytes',
      'bytes',
      'data-plane bytes sent to peers',
    );
    this.bytesReceived = m.createCounter(
      'seqtrain_dataplane_received_bytes',
      'bytes',
      'data-plane bytes received from peers',
    );
    this.checkpoint = m.createHistogram(
      'seqtrain_checkpoint_seconds',
      'float',
      's',
      "per segment, on its leader: writing the checkpoints and the segment's record",
    );
    this.segments = m.createCounter('seqtrain_segments', 'segments', 'training segments started');
    this.restarts = m.createCounter(
      'seqtrain_segment_restarts',
      'segments',
      "segments started in a re-formed group (a run's generation after the first)",
    );
    // Every counter exists from the start at 0: rate() and increase() then see a series, not a gap.
    for (const c of [
      this.steps,
      this.samples,
      this.bytesSent,
      this.bytesReceived,
      this.segments,
      this.restarts,
    ])
      c.add(0);
    m.createGauge('seqtrain_worker_info', 'int', '', 'the worker role and its backend').set(1, {
      role: labels.role,
      backend: labels.backend ?? 'none',
    });
  }

  record(b: TelemetryBatch): void {
    if (b.steps) this.steps.add(b.steps);
    if (b.samples) this.samples.add(b.samples);
    if (b.bytesSent) this.bytesSent.add(b.bytesSent);
    if (b.bytesReceived) this.bytesReceived.add(b.bytesReceived);
    for (const ms of b.reduceMs) this.reduce.record(ms / 1000);
    for (const ms of b.checkpointMs) this.checkpoint.record(ms / 1000);
    if (b.segments) this.segments.add(b.segments);
    if (b.restarts) this.restarts.add(b.restarts);
  }
}
