/**
 * What `workers = "auto"` means: one listener process per CPU, except on a machine with one or
 * two CPUs, where it is a single process.
 *
 * Why (measured, docs/architecture.md "Processes or threads"): every process carries its own
 * Bun runtime, about 51 MiB RSS at idle (40 MiB of it the binary's pages, counted again in each
 * process) plus a supervisor. With two CPUs, "one per CPU" meant supervisor + 2 workers = 153 MiB
 * before the first connection, and the second worker buys little: whatever else runs on the box
 * (the load generator in a benchmark, the upstream application, the kernel's network work) needs
 * the other core. A single process is 51 MiB and has no supervisor hop for metrics or signals.
 */
export function autoWorkers(cpus: number): number {
  return cpus <= 2 ? 1 : cpus;
}
