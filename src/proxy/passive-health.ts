/**
 * Passive health of one upstream server: PURE (the caller passes the clock). nginx's
 * max_fails / fail_timeout, with a half-open trial like a circuit breaker:
 *
 *   closed ── max_fails failures within fail_timeout ──▶ open (down) for fail_timeout
 *   open ── fail_timeout elapsed ──▶ half-open: exactly one trial request may go
 *   half-open ── trial succeeds ──▶ closed;  trial fails ──▶ open for another fail_timeout
 *
 * Failures are what the proxy sees on real traffic: a failed connect, a connection closed or
 * timed out before the response head, a response status listed in unhealthy_status.
 */
import type { PassiveHealthConfig } from "../config/config.ts";

export class PassiveHealth {
  /** Failures counted in the current window. */
  private count = 0;
  private windowStart = 0;
  /** Down (open) until this time; 0 = not down. After it: half-open. */
  downUntil = 0;
  /** The half-open trial request is in flight. */
  private trialOut = false;

  constructor(public cfg: PassiveHealthConfig) {}

  /** May a request go to this server now? (false while down, or while its trial is out.) */
  available(now: number): boolean {
    if (this.downUntil === 0) return true;
    return now >= this.downUntil && !this.trialOut;
  }

  get down(): boolean {
    return this.downUntil !== 0;
  }

  /** A request was sent its way; true if it is the half-open trial (report its outcome with trial = true). */
  begin(now: number): boolean {
    if (this.downUntil !== 0 && now >= this.downUntil && !this.trialOut) {
      this.trialOut = true;
      return true;
    }
    return false;
  }

  failure(now: number, trial: boolean): void {
    if (this.cfg.maxFails === 0) return;
    if (trial) {
      this.trialOut = false;
      this.downUntil = now + this.cfg.failTimeoutMs;
      return;
    }
    if (this.downUntil !== 0) return; // already down: requests in flight when it went down add nothing
    if (this.count === 0 || now - this.windowStart > this.cfg.failTimeoutMs) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    if (this.count >= this.cfg.maxFails) {
      this.count = 0;
      this.downUntil = now + this.cfg.failTimeoutMs;
    }
  }

  success(trial: boolean): void {
    if (trial) {
      this.trialOut = false;
      this.downUntil = 0;
      this.count = 0;
    }
  }

  /** The trial ended without a verdict (client went away): let another request try. */
  abandon(trial: boolean): void {
    if (trial) this.trialOut = false;
  }

  /** Active checks brought the server back: forget every passive failure. */
  reset(): void {
    this.count = 0;
    this.downUntil = 0;
    this.trialOut = false;
  }
}
