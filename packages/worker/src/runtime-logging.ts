/**
 * The Temporal SDK logs every worker state change at INFO; in a CLI, a test run or a trainer log
 * that drowns what matters. Installs the process-wide runtime once with WARN as the floor
 * (SEQTRAIN_LOG_LEVEL=debug restores INFO), before any connection is created.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

export function installRuntimeLogging(level: 'debug' | 'info' | 'warn' | 'error' = 'warn'): void {
  if (installed) return;
  installed = true;
  const temporalLevel: LogLevel = level === 'debug' ? 'INFO' : level === 'error' ? 'ERROR' : 'WARN';
  try {
    Runtime.install({
      logger: new DefaultLogger(temporalLevel),
      telemetryOptions: { logging: { forward: {}, filter: { core: temporalLevel, other: temporalLevel } } },
    });
  } catch {
    // Already installed by the host process (e.g. a test that configured its own runtime).
  }
}
