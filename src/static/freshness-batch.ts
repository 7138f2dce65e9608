/**
 * One freshness check per cached file per event-loop batch, still causally exact.
 *
 * A cache hit is not answered at once: it is queued, and one setImmediate callback (scheduled by
 * the first hit of the batch) checks each queued entry against the disk once (one statx per
 * file, however many requests asked for it) and then answers every queued request.
 *
 * Why this is never staler than one check per request: every queued request was read from its
 * socket before it was queued, and the check runs after the queue was filled. So the statx
 * happens after each request it answers arrived. A client that changed the file and then sent
 * its request (the request caused by the change) always gets the new file: the change happened
 * before the request was sent, hence before the check. This holds whatever the runtime's
 * scheduling; see docs/performance.md "Freshness checks".
 *
 * What the scheduling decides is how much is shared: Bun runs setImmediate callbacks after it
 * has dispatched every socket event of the current poll (tests/unit/bun-scheduling.test.ts
 * proves it, docs/runtime-notes.md records it), so all the requests read in one epoll batch share
 * one check per file, and the wait adds at most the rest of that batch to a response.
 *
 * Parallel arrays and one bound callback: no closure or record per request.
 */
/** Batches with queued requests, so that tests can answer them synchronously (drainFreshnessBatches). */
const waiting = new Set<{ run(): void }>();

/**
 * Answer every queued request now instead of in the setImmediate callback. For unit tests that
 * drive a handler synchronously with a fake exchange; the server never calls it.
 */
export function drainFreshnessBatches(): void {
  for (const b of [...waiting]) b.run();
}

export class FreshnessBatch<X, E extends object, T> {
  private xs: X[] = [];
  private es: E[] = [];
  private ts: T[] = [];
  private scheduled = false;
  private running = false;
  private readonly seen = new Map<E, boolean>();
  /** Freshness checks made and requests answered through the batch (tests, benchmarks). */
  checks = 0;
  answered = 0;

  /**
   * @param check the disk check of one entry (statx); called once per entry per batch.
   * @param answer answers one queued request, told whether its entry is still fresh.
   */
  constructor(
    private readonly check: (entry: E, target: T) => boolean,
    private readonly answer: (exchange: X, entry: E, target: T, fresh: boolean) => void,
  ) {}

  /**
   * Queue a request whose answer is `entry` if the entry is still fresh. While the batch is being
   * answered, a request queued by an answer (see run) is answered at once instead.
   */
  defer(exchange: X, entry: E, target: T): void {
    if (this.running) {
      this.answerOne(exchange, entry, target);
      return;
    }
    this.xs.push(exchange);
    this.es.push(entry);
    this.ts.push(target);
    if (!this.scheduled && !this.running) {
      this.scheduled = true;
      waiting.add(this);
      setImmediate(this.run);
    }
  }

  /**
   * Answering a request can queue another one in the same run: the connection then starts its
   * next pipelined request, already in its buffer. That request is answered at once, inside the
   * answer that started it, with this run's checks: no socket is read while this synchronous run
   * goes on, so it was read before the run began, and every check of the run comes after that.
   * Answered there, inside the first answer's cork, a whole pipelined batch of responses leaves
   * in one write, as it did when hits were answered in the data event; deferring it to the next
   * loop iteration would cost a loop turn and a write per pipelined request.
   */
  readonly run = (): void => {
    this.scheduled = false;
    waiting.delete(this);
    if (this.running) return; // drainFreshnessBatches from inside an answer: the loop below goes on
    this.running = true;
    const { xs, es, ts } = this;
    try {
      for (let i = 0; i < xs.length; i++) this.answerOne(xs[i]!, es[i]!, ts[i]!);
    } finally {
      this.running = false;
      this.seen.clear();
      xs.length = 0;
      es.length = 0;
      ts.length = 0;
    }
  };

  private answerOne(x: X, e: E, t: T): void {
    let fresh = this.seen.get(e);
    if (fresh === undefined) {
      this.checks++;
      fresh = this.check(e, t);
      this.seen.set(e, fresh);
    }
    this.answered++;
    this.answer(x, e, t, fresh); // must not throw (the static handler catches)
  }
}
