/**
 * `bun test` with a failure digest at the end: the output passes through unchanged, and when a
 * test fails, what bun printed for it (the error and the lines before its "(fail)" line) is
 * printed again after the summary. CI keeps only the tail of a long log, where bun's own summary
 * names the failed tests but not why they failed.
 *
 *   bun scripts/test-digest.ts [bun test arguments...]     exit code: bun test's
 */
const MAX_LINES_PER_FAILURE = 80;
const MAX_FAILURES = 10;

const proc = Bun.spawn([process.execPath, "test", ...process.argv.slice(2)], {
  stdout: "pipe",
  stderr: "pipe",
  env: process.env,
});

/** Lines since the last test result line; a "(fail)" line closes a block into `failures`. */
let block: string[] = [];
const failures: string[][] = [];
const RESULT = /^\((pass|fail|skip|todo)\) /;

/** Set once bun prints its closing summary, whose "(fail)" lines only repeat the names. */
let inSummary = false;

function take(line: string): void {
  const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
  if (inSummary) return;
  if (/^\d+ tests? failed:$/.test(plain.trim())) {
    inSummary = true;
    return;
  }
  if (RESULT.test(plain)) {
    if (plain.startsWith("(fail)") && failures.length < MAX_FAILURES) failures.push([...block.slice(-MAX_LINES_PER_FAILURE), plain]);
    block = [];
  } else if (/^tests\/.*\.test\.ts:$/.test(plain)) {
    block = [plain];
  } else {
    block.push(plain);
    if (block.length > 4 * MAX_LINES_PER_FAILURE) block = block.slice(-MAX_LINES_PER_FAILURE);
  }
}

async function pump(stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    out.write(chunk);
    rest += dec.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const l of lines) take(l);
  }
  if (rest !== "") take(rest);
}

async function main(): Promise<never> {
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  const code = await proc.exited;
  if (failures.length > 0) {
    const out: string[] = ["", `==== failure digest: ${failures.length} failed test(s), what bun printed for each ====`];
    for (const f of failures) out.push("", ...f);
    out.push("==== end of failure digest ====", "");
    process.stderr.write(out.join("\n"));
  }
  process.exit(code ?? 1);
}

void main();
