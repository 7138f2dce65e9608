/**
 * The per-request freshness check of a cached file, made cheap.
 *
 * A cached small file is served only after a stat of its path shows the same inode, size,
 * mtime and ctime as when it was read (file-cache.ts). fs.statSync in Bun costs ~3.5 µs here,
 * most of it building an fs.Stats object; the statx(2) syscall alone is ~2 µs. Calling libc's
 * statx through bun:ffi into one reused 256-byte buffer removes the object building and keeps
 * the check exact: no validity window, a changed file is never served stale.
 *
 * struct statx has the same layout on every Linux architecture (linux/stat.h), unlike struct
 * stat. Where libc or statx is missing (musl builds, other OSes) we fall back to fs.statSync.
 */
import fs from "node:fs";

export interface StatSnapshot {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

type StatxFn = (dirfd: number, path: Uint8Array, flags: number, mask: number, out: Uint8Array) => number;

const AT_FDCWD = -100;
const STATX_BASIC_STATS = 0x7ff;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

const out = new Uint8Array(256);
const view = new DataView(out.buffer);
let statx: StatxFn | null = null;

try {
  if (process.platform === "linux") {
    // Loaded lazily by module evaluation; any failure leaves the portable fallback in place.
    const ffi = require("bun:ffi") as typeof import("bun:ffi");
    const lib = ffi.dlopen("libc.so.6", {
      statx: { args: [ffi.FFIType.i32, ffi.FFIType.ptr, ffi.FFIType.i32, ffi.FFIType.u32, ffi.FFIType.ptr], returns: ffi.FFIType.i32 },
    });
    const fn = lib.symbols.statx as unknown as StatxFn;
    // Self-test against fs.statSync before trusting the layout.
    const probe = process.execPath;
    const ref = fs.statSync(probe);
    if (fn(AT_FDCWD, Buffer.from(probe + "\0"), 0, STATX_BASIC_STATS, out) === 0 && readSnapshot(true)?.ino === ref.ino && readSnapshot(true)?.size === ref.size) {
      statx = fn;
    }
  }
} catch {
  statx = null;
}

function readSnapshot(anyType = false): StatSnapshot | null {
  const mode = view.getUint16(28, true);
  if (!anyType && (mode & S_IFMT) !== S_IFREG) return null;
  // Timestamps: { i64 tv_sec; u32 tv_nsec; i32 pad } at 112 (mtime) and 96 (ctime).
  return {
    ino: Number(view.getBigUint64(32, true)),
    size: Number(view.getBigUint64(40, true)),
    mtimeMs: Number(view.getBigInt64(112, true)) * 1000 + view.getUint32(120, true) / 1e6,
    ctimeMs: Number(view.getBigInt64(96, true)) * 1000 + view.getUint32(104, true) / 1e6,
  };
}

/** Whether the fast syscall path is active (reported in tests and the README's numbers). */
export const fastStatAvailable = (): boolean => statx !== null;

/**
 * True when the regular file at `cpath` (NUL-terminated path bytes) still has this identity.
 * Any error, type change or difference → false: the caller takes the full, slow path.
 */
export function unchanged(cpath: Uint8Array, path: string, id: StatSnapshot): boolean {
  if (statx !== null) {
    if (statx(AT_FDCWD, cpath, 0, STATX_BASIC_STATS, out) !== 0) return false;
    if ((view.getUint16(28, true) & S_IFMT) !== S_IFREG) return false;
    // Compare the cheap 32-bit reads first; BigInt reads only on a likely hit.
    if (view.getUint32(40, true) !== id.size % 4294967296) return false;
    const s = readSnapshot();
    // Timestamps compared to a microsecond: the two float conversions (ours and Node's) may
    // differ in the last bits.
    return s !== null && s.ino === id.ino && s.size === id.size && Math.abs(s.mtimeMs - id.mtimeMs) < 0.001 && Math.abs(s.ctimeMs - id.ctimeMs) < 0.001;
  }
  try {
    const st = fs.statSync(path, { throwIfNoEntry: false });
    return st !== undefined && st.isFile() && st.ino === id.ino && st.size === id.size && st.mtimeMs === id.mtimeMs && st.ctimeMs === id.ctimeMs;
  } catch {
    return false;
  }
}
