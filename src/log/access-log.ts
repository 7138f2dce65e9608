/**
 * Builds the AccessLogger the server uses from the --access-log / --log-format settings.
 *
 * The default target (/var/log/dreamserver/access.log, DEFAULT_ACCESS_LOG) is usually not
 * writable when a user just runs the binary, so a path that cannot be opened is not fatal:
 * we say so once, on one line naming the path and the reason, and log to stdout instead.
 * An operator who wants no log says "off".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { LogFormat } from "../config/config.ts";
import type { AccessLogger, AccessRecord } from "./access-record.ts";
import { AppendWriter, describeError, type AppendWriterOptions } from "./file-writer.ts";
import { encodeJson, formatJson } from "./format-json.ts";
import { encodeText, formatText, recordChars } from "./format-text.ts";
import { lineBound } from "./line-bytes.ts";

/** Logger for --access-log off: every method does nothing. */
export const NOOP_ACCESS_LOGGER: AccessLogger = Object.freeze({
  log(_record: AccessRecord): void {},
  reopen(): void {},
  flush(): void {},
  close(): void {},
});

export function formatterFor(format: LogFormat): (r: AccessRecord) => string {
  return format === "json" ? formatJson : formatText;
}

export function encoderFor(format: LogFormat): (r: AccessRecord, buf: Uint8Array, off: number) => number {
  return format === "json" ? encodeJson : encodeText;
}

/**
 * Hands records to an AppendWriter, which has them encoded as bytes straight into its staging
 * buffer (no line string; src/log/line-bytes.ts), or formatted as a string when it must queue.
 */
class WriterAccessLogger implements AccessLogger {
  private readonly encode: (r: AccessRecord, buf: Uint8Array, off: number) => number;
  private readonly format: (r: AccessRecord) => string;
  constructor(
    private readonly writer: AppendWriter,
    format: LogFormat,
  ) {
    this.encode = encoderFor(format);
    this.format = formatterFor(format);
  }
  log(record: AccessRecord): void {
    this.writer.writeEncoded(record, lineBound(recordChars(record)), this.encode, this.format);
  }
  reopen(): void {
    this.writer.reopen();
  }
  flush(): void {
    this.writer.flush();
  }
  close(): void {
    this.writer.close();
  }
}

/**
 * @param target a file path, "-" for stdout, or "off".
 * @param warn receives at most one message at open time (fallback to stdout), and later the
 *   writer's messages about dropped lines or a failed reopen. One line each, no trailing newline.
 */
export function openAccessLog(
  target: string,
  format: LogFormat,
  warn: (msg: string) => void,
  writerOptions: Omit<AppendWriterOptions, "warn"> = {},
): AccessLogger {
  if (target === "off") return NOOP_ACCESS_LOGGER;
  const options: AppendWriterOptions = { ...writerOptions, warn };
  let writer: AppendWriter;
  if (target === "-") {
    writer = new AppendWriter("-", options);
  } else {
    try {
      // mkdir -p: a fresh install has no /var/log/dreamserver yet.
      fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
      writer = new AppendWriter(target, options);
    } catch (e) {
      warn(`access log: cannot open ${target} (${describeError(e)}); writing the access log to stdout instead`);
      writer = new AppendWriter("-", options);
    }
  }
  return new WriterAccessLogger(writer, format);
}
