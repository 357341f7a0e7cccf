/**
 * Which run a trainer process belongs to. Temporal is not a gang scheduler: two runs whose
 * segments interleave on the same trainers can each hold one trainer while waiting for the
 * other (a deadlock until timeouts). So a trainer serves one run at a time: joining a group
 * reserves it, a running segment holds it, and it frees itself when its run ends, pauses or
 * fails, or when no segment of the run arrives within a grace period.
 */
export type LeaseAnswer = { ok: true } | { ok: false; holder: string };

export class TrainerLease {
  private holder: { runId: string; until: number; holds: number } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  private current(): typeof this.holder {
    const h = this.holder;
    if (h && h.holds === 0 && h.until <= this.now()) this.holder = undefined;
    return this.holder;
  }

  /** Reserves the trainer for `runId` for `ttlMs` (a join), unless another run holds it. */
  reserve(runId: string, ttlMs: number): LeaseAnswer {
    const h = this.current();
    if (h && h.runId !== runId) return { ok: false, holder: h.runId };
    if (h) {
      h.until = Math.max(h.until, this.now() + ttlMs);
      return { ok: true };
    }
    this.holder = { runId, until: this.now() + ttlMs, holds: 0 };
    return { ok: true };
  }

  /** Holds the trainer while a segment of `runId` runs; undo with `done`. */
  hold(runId: string): LeaseAnswer {
    const r = this.reserve(runId, 0);
    if (r.ok) this.holder!.holds++;
    return r;
  }

  /**
   * A segment of `runId` ended: keep the trainer for `graceMs` more (the next segment is on its
   * way) or free it now (graceMs 0: the run is over, paused or re-forming).
   */
  done(runId: string, graceMs: number): void {
    const h = this.holder;
    if (!h || h.runId !== runId) return;
    h.holds = Math.max(0, h.holds - 1);
    h.until = this.now() + graceMs;
    this.current();
  }

  /** The run left (its workflow released the extra trainers it did not place ranks on). */
  release(runId: string): void {
    const h = this.holder;
    if (h && h.runId === runId && h.holds === 0) this.holder = undefined;
  }

  heldBy(): string | undefined {
    return this.current()?.runId;
  }
}
