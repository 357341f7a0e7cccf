/** Renders training progress: a redrawn bar on a terminal, plain lines otherwise. */
import type { TrainProgress } from '@seqtrain/contracts';

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(r).padStart(2, '0')}s`
      : `${r}s`;
}

function fmt(n: number | undefined, digits = 4): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toPrecision(digits);
}

export function progressLine(p: TrainProgress, width = 24): string {
  const frac = p.roundsPerEpoch > 0 ? p.roundInEpoch / p.roundsPerEpoch : 0;
  const filled = Math.round(frac * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const epoch = `epoch ${Math.min(p.epoch + 1, p.epochs)}/${p.epochs}`;
  const round = `round ${p.roundInEpoch}/${p.roundsPerEpoch}`;
  const extra = p.metrics
    ? Object.entries(p.metrics)
        .filter(([k]) => /mae_units|accuracy|perplexity/.test(k))
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' ')
    : '';
  if (p.status === 'running' && p.phase !== 'training')
    return `${p.status.padEnd(9)} ${epoch} ${p.phase}${p.lastFailure ? ` (${p.lastFailure})` : ''}`;
  const group = p.group ? ` | ${p.group.length} trainer${p.group.length > 1 ? 's' : ''}` : '';
  return `${p.status.padEnd(9)} ${epoch} ${bar} ${round} | loss ${fmt(p.trainLoss)} val ${fmt(p.valLoss)}${extra ? ` ${extra}` : ''} | ${Math.round(p.samplesPerSec)} samples/s${group} | ETA ${formatDuration(p.etaSeconds)}`;
}

export class ProgressView {
  private lastPlain = '';
  private lastPlainAt = 0;
  private drawn = false;
  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
  ) {}

  update(p: TrainProgress): void {
    const line = progressLine(p);
    if (this.tty) {
      this.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    // Plain mode: one line per epoch boundary or status change, and at most every 15 s otherwise.
    const key = `${p.status} ${p.epoch}`;
    if (key !== this.lastPlain || Date.now() - this.lastPlainAt > 15_000) {
      this.write(`${line}\n`);
      this.lastPlain = key;
      this.lastPlainAt = Date.now();
    }
  }

  done(): void {
    if (this.tty && this.drawn) this.write('\n');
    this.drawn = false;
  }
}
