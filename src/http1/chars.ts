/**
 * Byte classes of RFC 9110 §5.6.2 (token) and §5.5 (field values), as lookup tables so the
 * parser classifies a byte with one array read.
 */

/** tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TOKEN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TOKEN[ch.charCodeAt(0)] = 1;

/**
 * field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value (RFC 9110 §5.5).
 * Everything else — NUL, bare CR, LF, other controls, DEL — is rejected: those bytes are how
 * request-smuggling and header-injection attacks get through lenient parsers.
 */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** Bytes allowed in a request-target: visible US-ASCII only (RFC 9112 §3.2, RFC 3986 chars). */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/** HEXDIG → value, or 255 for a non-hex byte. */
export const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c <= 9; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** Bytes of a Host value: reg-name / IPv4 / IP-literal chars plus ":" for the port (RFC 3986 §3.2.2). */
export const HOST = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) HOST[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) HOST[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) HOST[c] = 1;
for (const ch of "-._~%!$&'()*+,;=:[]") HOST[ch.charCodeAt(0)] = 1;

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
