/**
 * The messages between a trainer worker and its engine process (engine-main.ts), over Node's IPC
 * channel with structured-clone serialisation. The worker holds the Temporal side (polling,
 * heartbeats, cancellation, the control query); the engine holds everything that computes.
 */
import type { BackendSummary, Config } from '@seqtrain/contracts';

/** The trainer activities the engine runs (createTrainerActivities). */
export const ENGINE_ACTIVITIES = [
  'joinGroup',
  'leaveGroup',
  'runSegment',
  'initCheckpoint',
  'exportModel',
] as const;
export type EngineActivity = (typeof ENGINE_ACTIVITIES)[number];

/** An error as it crosses the channel: its name survives, so the error taxonomy still applies. */
export type WireError =
  | { kind: 'cancelled'; message: string }
  | { kind: 'application'; type: string | undefined; message: string; nonRetryable: boolean }
  | { kind: 'error'; name: string; message: string; stack: string | undefined };

export type ToEngine =
  | { type: 'init'; config: Config; workerId: string }
  | { type: 'call'; id: number; name: EngineActivity; input: unknown }
  | { type: 'cancel'; id: number }
  | { type: 'control-reply'; id: number; value?: unknown; error?: WireError }
  | { type: 'shutdown' };

export type FromEngine =
  | { type: 'ready'; backend: BackendSummary; dataPlane: { address: string; bound: string } }
  | { type: 'init-failed'; error: WireError }
  | { type: 'heartbeat'; id: number; details: unknown }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'control'; id: number; runId: string }
  | { type: 'log'; message: string }
  | { type: 'telemetry'; report: TelemetryBatch };

/** What the engine's training reported since its last batch (sent at most every second). */
export interface TelemetryBatch {
  steps: number;
  samples: number;
  bytesSent: number;
  bytesReceived: number;
  /** per round, milliseconds in the exchange */
  reduceMs: number[];
  /** per segment end on the leader, milliseconds writing checkpoints and the record */
  checkpointMs: number[];
  segments: number;
  restarts: number;
}
