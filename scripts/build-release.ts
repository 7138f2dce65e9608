/**
 * npm run build:release → dist/dreamserver-<version>-linux-<arch> and a .sha256 beside each.
 *
 * Targets: RELEASE_TARGETS (comma-separated; default: this machine's, e.g. linux-x64), each
 * one of linux-x64, linux-arm64, linux-x64-musl, linux-arm64-musl. A target other than this
 * machine's needs its Bun runtime, which `bun build --compile` downloads from the npm registry;
 * one that cannot be fetched fails with a clear message and leaves no file behind (each binary
 * is written under a temporary name and renamed only when complete). The git commit is baked
 * in for --version.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = path.resolve(import.meta.dir, "..");
const KNOWN = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"];
const host = `linux-${process.arch === "arm64" ? "arm64" : "x64"}`;
const targets = (process.env.RELEASE_TARGETS ?? host).split(",").map((t) => t.trim()).filter(Boolean);
for (const t of targets) {
  if (!KNOWN.includes(t)) {
    console.error(`build:release: unknown target "${t}"; use one of ${KNOWN.join(", ")}`);
    process.exit(2);
  }
}
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stdout: "pipe", stderr: "ignore" });
const commit = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
fs.mkdirSync(path.join(root, "dist"), { recursive: true });

let failed = 0;
for (const t of targets) {
  const name = `dreamserver-${pkg.version}-${t}`;
  const out = path.join(root, "dist", name);
  // Built in a scratch folder under its final name (the source map is named after it), then
  // moved: a failed target leaves nothing in dist/.
  const scratch = fs.mkdtempSync(path.join(root, "dist", ".build-"));
  const tmp = path.join(scratch, name);
  const started = performance.now();
  const r = Bun.spawnSync(
    [process.execPath, "build", "--compile", "--minify", "--sourcemap", "--define", `DREAMSERVER_COMMIT=${JSON.stringify(commit)}`, `--target=bun-${t}`, path.join(root, "src/main.ts"), "--outfile", tmp],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0 || !fs.existsSync(tmp)) {
    fs.rmSync(scratch, { recursive: true, force: true });
    const why = (r.stderr.toString() + r.stdout.toString()).trim().split("\n").slice(-3).join(" | ");
    console.error(`build:release: ${t}: could not build (the Bun runtime for this target could not be fetched or compiled): ${why}`);
    failed++;
    continue;
  }
  fs.renameSync(tmp, out);
  if (fs.existsSync(`${tmp}.map`)) fs.renameSync(`${tmp}.map`, `${out}.map`);
  fs.rmSync(scratch, { recursive: true, force: true });
  const sum = createHash("sha256").update(fs.readFileSync(out)).digest("hex");
  fs.writeFileSync(`${out}.sha256`, `${sum}  ${name}\n`);
  console.log(`built dist/${name} (${(fs.statSync(out).size / 1048576).toFixed(1)} MiB, sha256 ${sum.slice(0, 16)}…) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failed ? 1 : 0);
