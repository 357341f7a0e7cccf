/**
 * Node flags for a trainer process. Its steps are synchronous kernel calls on the main thread;
 * V8's concurrent GC helper threads then compete with them for cores, and when several trainers
 * share a host (the embedded stack: one per core) each one's GC threads slow the others' steps.
 * Measured by bench:distributed on 2 cores, 2 trainer processes at one thread each: 1,430 ->
 * 2,154 samples/s on LSTM(128) with GC on the main thread; one trainer unchanged.
 */
export const TRAINER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
