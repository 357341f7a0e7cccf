/**
 * Node flags for a trainer process. Its steps are synchronous kernel calls on the main thread;
 * V8's concurrent GC helper threads then compete with them for cores, and when several trainers
 * share a host (the embedded stack: one per core) each one's GC threads slow the others' steps.
 * Measured by bench:distributed on 2 cores, 2 trainer processes at one thread each: 1,430 ->
 * 2,154 samples/s on LSTM(128) with GC on the main thread; one trainer unchanged.
 *
 * A step allocates a few MB of short-lived typed arrays (batches, gradients, optimizer state): with
 * V8's default young generation most of it is copied out of the nursery before it dies. A 32 MB
 * semi-space lets it die young: LSTM(128) steps of the local loop about 26 -> 23 ms, of a lone
 * trainer about 29.5 -> 26 ms (short bench:distributed runs, same machine and hour; at most 96 MB
 * more memory per process).
 */
export const TRAINER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--max-semi-space-size=32'];
