/**
 * A set of objects with deadlines, checked by one coarse interval instead of a timer each.
 * Arming is a Set insertion and a number store; the interval is unref'd so it never keeps the
 * process alive, and it only runs while something is armed.
 */
export interface Expirable {
  /** Handle the timeout if now is past the deadline; true when it fired. */
  expire(now: number): boolean;
}

export const SWEEP_INTERVAL_MS = 100;

export class DeadlineSweep<T extends Expirable> {
  private readonly items = new Set<T>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly intervalMs: number = SWEEP_INTERVAL_MS) {}

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs);
      this.timer.unref();
    }
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  private sweep(): void {
    const now = performance.now();
    for (const item of this.items) {
      if (item.expire(now)) this.items.delete(item);
    }
    if (this.items.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
