/**
 * What `dreamserver --version` reports: the package version and the git commit it was built
 * from. A release build bakes the commit in (`bun build --define DREAMSERVER_COMMIT=…`, see
 * scripts/build.ts); run from source, it is read from git, or "unknown".
 */
import pkg from "../package.json" with { type: "json" };

declare const DREAMSERVER_COMMIT: string | undefined;

export const VERSION: string = pkg.version;

function commitFromGit(): string {
  try {
    const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: import.meta.dir, stdout: "pipe", stderr: "ignore" });
    const out = r.stdout.toString().trim();
    return r.exitCode === 0 && /^[0-9a-f]{7,40}$/.test(out) ? out : "unknown";
  } catch {
    return "unknown";
  }
}

/** The commit, baked in at build time or read from git (only when asked: --version). */
export function buildCommit(): string {
  return typeof DREAMSERVER_COMMIT === "string" && DREAMSERVER_COMMIT !== "" ? DREAMSERVER_COMMIT : commitFromGit();
}
