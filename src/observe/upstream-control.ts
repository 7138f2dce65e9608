/**
 * The admin API's UpstreamControl for one process (its registry) and for a supervisor (its
 * workers over IPC), and the worker's side of that IPC.
 *
 * With workers the supervisor keeps the drained set: a drain is checked against the config
 * (configuredUpstreamServers), sent to every live worker, and answered once they all applied it;
 * the set is also put in the environment of workers started later (DRAINED_ENV), so a worker
 * restarted after a crash comes up with the same servers drained before it listens.
 */
import type { Config } from "../config/config.ts";
import type { UpstreamRegistry, UpstreamServerState } from "../proxy/upstreams.ts";
import { configuredUpstreamServers } from "../runtime.ts";
import type { UpstreamControl } from "./admin.ts";
import { mergeUpstreamStates } from "./upstream-states.ts";

/** A worker's environment: the drained servers as JSON [[group, server], ...]. */
export const DRAINED_ENV = "DREAMSERVER_DRAINED";

/** The control of this process's registry (the current runtime's; the same one across reloads). */
export function localUpstreamControl(registry: () => UpstreamRegistry): UpstreamControl {
  return {
    states: () => Promise.resolve(mergeUpstreamStates([registry().states()])),
    setDrained(group, server, drained) {
      const r = registry();
      if (!r.setDrained(group, server, drained)) return Promise.resolve(null);
      return Promise.resolve(mergeUpstreamStates([r.states().filter((s) => s.group === group && s.server === server)]));
    },
  };
}

/** Apply DRAINED_ENV (set by the supervisor) to a worker's registry at start. */
export function applyDrainedEnv(registry: UpstreamRegistry): void {
  const raw = process.env[DRAINED_ENV];
  if (!raw) return;
  try {
    registry.replaceDrained(JSON.parse(raw) as [string, string][]);
  } catch {
    // Not ours to fail on: the supervisor writes it.
  }
}

/** A worker's answer to a supervisor query (null: not an upstream query). */
export function answerUpstreamQuery(registry: UpstreamRegistry, m: { kind?: unknown; group?: unknown; server?: unknown; drained?: unknown; list?: unknown }): UpstreamServerState[] | null {
  if (m.kind === "upstreams") return registry.states();
  if (m.kind === "drainset" && Array.isArray(m.list)) {
    registry.replaceDrained(m.list as [string, string][]);
    return [];
  }
  if (m.kind === "drain" && typeof m.group === "string" && typeof m.server === "string") {
    registry.setDrained(m.group, m.server, m.drained === true);
    return registry.states().filter((s) => s.group === m.group && s.server === m.server);
  }
  return null;
}

export interface WorkerQuery {
  query(msg: Record<string, unknown>): Promise<unknown[]>;
}

/** The supervisor's control: the drained set is its own; states and drains go to every worker. */
export class SupervisorUpstreamControl implements UpstreamControl {
  private readonly drained = new Map<string, Set<string>>();

  constructor(
    private readonly workers: WorkerQuery,
    private config: Config,
  ) {
    this.publish();
  }

  /** A reload: forget drains of servers the new config does not have (the workers do the same). */
  reconfigured(config: Config): void {
    this.config = config;
    const known = configuredUpstreamServers(config);
    for (const [g, names] of this.drained) {
      for (const n of names) if (!known.get(g)?.has(n)) names.delete(n);
      if (names.size === 0) this.drained.delete(g);
    }
    this.publish();
  }

  async states(): Promise<UpstreamServerState[]> {
    return mergeUpstreamStates((await this.workers.query({ kind: "upstreams" })) as UpstreamServerState[][]);
  }

  async setDrained(group: string, server: string, drained: boolean): Promise<UpstreamServerState[] | null> {
    if (!configuredUpstreamServers(this.config).get(group)?.has(server)) return null;
    let set = this.drained.get(group);
    if (set === undefined) this.drained.set(group, (set = new Set()));
    if (drained) set.add(server);
    else set.delete(server);
    this.publish();
    return mergeUpstreamStates((await this.workers.query({ kind: "drain", group, server, drained })) as UpstreamServerState[][]);
  }

  /**
   * A worker (re)started and listens: send every worker the whole set. A worker spawned just
   * before a drain changed the set got the old environment and may have missed the query.
   */
  workerReady(): void {
    if (this.drained.size > 0 || process.env[DRAINED_ENV] !== undefined) void this.workers.query({ kind: "drainset", list: this.list() });
  }

  private list(): [string, string][] {
    const list: [string, string][] = [];
    for (const [g, names] of this.drained) for (const n of names) list.push([g, n]);
    return list;
  }

  /** Workers spawned from now on start with this set (spawn copies process.env). */
  private publish(): void {
    const list = this.list();
    if (list.length === 0) delete process.env[DRAINED_ENV];
    else process.env[DRAINED_ENV] = JSON.stringify(list);
  }
}
