/**
 * HTTP-date (RFC 9110 §5.6.7): parsing of all three formats, formatting of the preferred one.
 *
 *   IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT   ; Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT ; Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime-date = day-name SP date3 SP time-of-day SP year      ; Sun Nov  6 08:49:37 1994
 *
 * "A recipient that parses a timestamp value in an HTTP field MUST accept all three HTTP-date
 * formats. When a sender generates a header field that contains one or more timestamps defined
 * as HTTP-date, the sender MUST generate those timestamps in the IMF-fixdate format."
 *
 * Day and month names are case-sensitive in the grammar (%s"Mon"), so we match them exactly.
 * The day name is not checked against the date (the grammar does not require it to agree and
 * real clients never get it wrong in a way that matters). Invalid calendar dates (Feb 30) are
 * rejected. Pure: no Bun imports.
 */

import { trimOws } from "../http1/field-syntax.ts";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
const RFC850 = /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/;
const ASCTIME = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ( \d|\d\d) (\d\d):(\d\d):(\d\d) (\d{4})$/;

function build(year: number, monthName: string, day: number, h: number, m: number, s: number): number | null {
  const month = (MONTHS as readonly string[]).indexOf(monthName);
  if (month < 0) return null;
  // second 60 is allowed by the grammar for leap seconds; Date.UTC rolls it into the next minute.
  if (h > 23 || m > 59 || s > 60 || day < 1) return null;
  const ms = Date.UTC(year, month, day, h, m, s);
  // Reject dates Date.UTC would silently normalise (e.g. 31 Apr → 1 May).
  const d = new Date(ms);
  if (d.getUTCDate() !== day || d.getUTCMonth() !== month) return null;
  return ms;
}

/**
 * Parse an HTTP-date. Returns milliseconds since the epoch (a whole number of seconds),
 * or null if the value is not a valid HTTP-date. Surrounding OWS (SP/HTAB only, RFC 9110
 * §5.6.3) is tolerated because field values are trimmed of it anyway (§5.5); any other byte,
 * \xa0 included, makes the date invalid, and an invalid date is ignored by its callers.
 */
export function parseHttpDate(value: string): number | null {
  const v = trimOws(value);
  let m = IMF_FIXDATE.exec(v);
  if (m) return build(+m[4]!, m[3]!, +m[2]!, +m[5]!, +m[6]!, +m[7]!);
  m = RFC850.exec(v);
  if (m) {
    // §5.6.7: a two-digit year that "appears to be more than 50 years in the future" is the most
    // recent past year with the same last two digits.
    const yy = +m[4]!;
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
    return build(year, m[3]!, +m[2]!, +m[5]!, +m[6]!, +m[7]!);
  }
  m = ASCTIME.exec(v);
  if (m) return build(+m[7]!, m[2]!, +m[3]!.replace(" ", ""), +m[4]!, +m[5]!, +m[6]!); // date3 day is ( SP DIGIT ) / 2DIGIT
  return null;
}

const pad2 = (n: number): string => (n < 10 ? "0" + n : "" + n);

/** Format as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); sub-second precision is dropped. */
export function formatHttpDate(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  return (
    `${DAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ` +
    `${String(y).padStart(4, "0")} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`
  );
}
