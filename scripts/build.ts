/**
 * npm run build → dist/dreamserver, a standalone executable (bun build --compile).
 * Error pages are TypeScript modules, so they are inside the binary; nothing ships beside it.
 * Optional: BUILD_TARGET=bun-linux-arm64 (or -musl) cross-compiles (downloads that runtime).
 */
import { $ } from "bun";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const out = path.join(root, "dist", process.env.BUILD_TARGET ? `dreamserver-${process.env.BUILD_TARGET.replace(/^bun-/, "")}` : "dreamserver");
fs.mkdirSync(path.dirname(out), { recursive: true });
const target = process.env.BUILD_TARGET ? ["--target", process.env.BUILD_TARGET] : [];
// The commit goes into the binary so --version can name it (src/build-info.ts).
const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stdout: "pipe", stderr: "ignore" });
const commit = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
const started = performance.now();
await $`${process.execPath} build --compile --minify --sourcemap --define ${`DREAMSERVER_COMMIT=${JSON.stringify(commit)}`} ${target} ${path.join(root, "src/main.ts")} --outfile ${out}`.quiet();
const size = fs.statSync(out).size;
console.log(`built ${path.relative(root, out)} (${(size / 1048576).toFixed(1)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
