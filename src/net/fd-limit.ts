/**
 * File-descriptor headroom, so that running out of descriptors never spins the event loop.
 *
 * Bun accepts connections natively. When accept(2) fails with EMFILE the listening socket stays
 * readable, Bun retries at once, and the process burns 100% CPU while new clients wait (seen
 * with 1,100 stuck connections; reproduced with `ulimit -n 50`). No JavaScript hook sees that
 * error, so the classic reserve-descriptor trick is out of reach. What we can do:
 *
 * 1. raise the soft RLIMIT_NOFILE to the hard limit at start (as Go's runtime and nginx's
 *    worker_rlimit_nofile do), and
 * 2. cap client connections below the limit (Server: `maxConnections`). A connection over the
 *    cap is accepted, told 503 and closed at once, so accept(2) always has a descriptor left.
 *
 * Each client connection may hold a second descriptor (its upstream socket, or a file being
 * streamed), hence the factor of two; FD_RESERVE covers the log, listeners, the event loop and
 * cached-file opens.
 */
import fs from "node:fs";

const RLIMIT_NOFILE = 7; // Linux, all architectures
export const FD_RESERVE = 64;

/** The soft descriptor limit after trying to raise it to the hard limit; null if unknown. */
export function raiseFdLimit(): number | null {
  if (process.platform !== "linux") return null;
  try {
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const lib = ffi.dlopen("libc.so.6", {
      getrlimit: { args: [ffi.FFIType.i32, ffi.FFIType.ptr], returns: ffi.FFIType.i32 },
      setrlimit: { args: [ffi.FFIType.i32, ffi.FFIType.ptr], returns: ffi.FFIType.i32 },
    });
    // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: two 64-bit words on 64-bit Linux.
    const buf = new BigUint64Array(2);
    if (lib.symbols.getrlimit(RLIMIT_NOFILE, buf) !== 0) return readSoftLimit();
    if (buf[0]! < buf[1]!) {
      // An "unlimited" hard limit is not a usable soft limit for the kernel (it caps at nr_open).
      const target = buf[1]! > 1_048_576n ? 1_048_576n : buf[1]!;
      const want = new BigUint64Array([target, buf[1]!]);
      if (target > buf[0]! && lib.symbols.setrlimit(RLIMIT_NOFILE, want) === 0) buf[0] = target;
    }
    lib.close();
    return Number(buf[0]);
  } catch {
    return readSoftLimit();
  }
}

/** Fallback without FFI (e.g. musl builds): parse "Max open files" from /proc/self/limits. */
function readSoftLimit(): number | null {
  try {
    const text = fs.readFileSync("/proc/self/limits", "latin1");
    const m = /^Max open files\s+(\d+)\s/m.exec(text);
    return m ? parseDecimal(m[1]!) : null;
  } catch {
    return null;
  }
}

function parseDecimal(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) n = n * 10 + (s.charCodeAt(i) - 0x30);
  return n;
}

/** Client connections one process may hold with `softLimit` descriptors. */
export function connectionCapFor(softLimit: number | null): number {
  if (softLimit === null) return Number.MAX_SAFE_INTEGER;
  return Math.max(1, Math.floor((softLimit - FD_RESERVE) / 2));
}
