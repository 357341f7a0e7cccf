/**
 * What a trainer reports about its training for monitoring (the worker turns it into Prometheus
 * metrics): a port injected into the trainer activities, so that the activities stay free of any
 * metrics library and a test can record what they report.
 */
export interface RoundReport {
  /** optimizer steps this round advanced the run by (syncEvery in local-SGD mode) */
  steps: number;
  /** examples this trainer computed gradients for in the round (its ranks' batches) */
  samples: number;
  /** time in the exchange: sending, waiting for the neighbours, combining (the reduce) */
  reduceMs: number;
  /** data-plane bytes this trainer sent and received in the round */
  bytesSent: number;
  bytesReceived: number;
}

export interface SegmentReport {
  generation: number;
  /** the first segment this trainer runs in a re-formed group (a generation after the first) */
  restart: boolean;
}

export interface TrainingTelemetry {
  round(r: RoundReport): void;
  /** the leader wrote the segment's checkpoints (and record) in this long */
  checkpoint(ms: number): void;
  segment(s: SegmentReport): void;
}
