/**
 * The native allocator's purge setting, applied by re-executing this process once at start.
 *
 * Bun allocates socket read buffers and other native memory with mimalloc, which by default
 * returns freed pages to the kernel (madvise) shortly after they empty and faults them back in
 * when they are reused. Under proxy load that is one madvise per ~12 requests and 0.33 page
 * faults per request: about a tenth of the CPU of a proxied request
 * (docs/performance.md, "Allocator purging"). With MIMALLOC_PURGE_DELAY=-1 freed pages stay
 * mapped and are reused: 1.08–1.10x CPU efficiency for the proxy in two interleaved runs, for
 * +7 MiB of RSS with 5,000 idle connections (the process keeps its high-water mark, as nginx does).
 *
 * mimalloc reads its options when the process starts, so the setting must be in the environment
 * before that: the server re-executes itself (process.execve: same PID, same open descriptors, so
 * systemd, Kubernetes and signal senders see no difference) with the variable set. An operator who
 * sets MIMALLOC_PURGE_DELAY (e.g. to 10, mimalloc's default) gets exactly that and no re-exec.
 */
import { selfCommand } from "./workers.ts";

const PURGE_ENV = "MIMALLOC_PURGE_DELAY";
/** Never purge freed pages (see the file comment for the measurement). */
const PURGE_NEVER = "-1";

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

/**
 * Re-execute with the allocator setting when it is not in the environment yet; returns (doing
 * nothing) when it is, or when this runtime cannot re-execute. Call before anything is printed,
 * opened or listened on: nothing of this process survives the exec except its descriptors.
 */
export function reexecWithAllocatorTuning(): void {
  if (process.env[PURGE_ENV] !== undefined) return;
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== "function") return;
  const [file, ...args] = selfCommand();
  try {
    execve(file!, [file!, ...args], { ...process.env, [PURGE_ENV]: PURGE_NEVER });
  } catch {
    // The exec failed (e.g. the binary was replaced on disk): serve with the default allocator.
  }
}
