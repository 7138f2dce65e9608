/**
 * The last few failed exchanges (5xx, or any with an error code), for the dashboard. Written on
 * the error path only; a fixed-size ring, so it never grows.
 */
export interface RecentError {
  /** Unix ms. */
  t: number;
  status: number;
  code: string;
  method: string;
  /** "site/route" (config indexes), never the request path. */
  route: string;
}

const SIZE = 20;
const ring: RecentError[] = [];
let next = 0;

export function recordError(e: RecentError): void {
  if (ring.length < SIZE) ring.push(e);
  else ring[next] = e;
  next = (next + 1) % SIZE;
}

/** Newest first. */
export function recentErrors(): RecentError[] {
  return [...ring].sort((a, b) => b.t - a.t);
}
