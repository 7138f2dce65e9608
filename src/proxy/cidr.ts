/**
 * CIDR lists for --trusted-proxy: which peers may hand us X-Forwarded-* / Forwarded headers
 * (RFC 7239 §8.1: a proxy must only trust these fields from hops it knows).
 *
 * Pure code. Addresses are kept per family, like Go's net/netip: an IPv4 address never matches
 * an IPv6 prefix and vice versa ("::/0" trusts every IPv6 peer, not every peer). The one bridge
 * is the IPv4-mapped IPv6 form `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2), which a dual-stack listener
 * reports for IPv4 clients: it is unmapped to the IPv4 address, both for peers and for CIDRs
 * (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
 *
 * Parsing is strict because this is security configuration: IPv4 is four decimal octets without
 * leading zeros (`010.0.0.1` is ambiguous: octal in inet_aton), no zone ids in CIDRs, and a prefix
 * with host bits set (`10.0.0.1/8`) is rejected with a hint rather than silently widened.
 */

export interface Cidr {
  readonly family: 4 | 6;
  /** Network address, 4 or 16 bytes, host bits zero. */
  readonly bytes: Uint8Array;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  readonly prefix: number;
  /** The text it was parsed from, for messages. */
  readonly source: string;
}

/** A CIDR that failed to parse; `message` is meant for the operator (config validation). */
export class CidrError extends Error {
  readonly code = "CONFIG_BAD_CIDR";
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid --trusted-proxy value ${JSON.stringify(input)}: ${reason}`);
    this.name = "CidrError";
  }
}

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 bytes for IPv4 (also for IPv4-mapped IPv6 input), 16 for IPv6. */
  readonly bytes: Uint8Array;
}

function parseIpv4(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (p.length === 0 || p.length > 3) return null;
    for (let j = 0; j < p.length; j++) {
      const c = p.charCodeAt(j);
      if (c < 48 || c > 57) return null;
    }
    if (p.length > 1 && p.charCodeAt(0) === 48) return null; // leading zero: octal ambiguity
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** RFC 4291 §2.2 text forms: full, `::`-compressed, and a trailing dotted IPv4 part. */
function parseIpv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf("::");
  if (dbl >= 0 && s.indexOf("::", dbl + 1) >= 0) return null;
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const tail = dbl >= 0 ? s.slice(dbl + 2) : "";
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const tailWords: number[] = [];
  const all = [...headParts.map((p) => [p, words] as const), ...tailParts.map((p) => [p, tailWords] as const)];
  for (let k = 0; k < all.length; k++) {
    const [p, into] = all[k]!;
    const last = k === all.length - 1;
    if (last && p.includes(".")) {
      const v4 = parseIpv4(p);
      if (!v4) return null;
      into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (p.length === 0 || p.length > 4) return null;
    for (let j = 0; j < p.length; j++) if (!isHex(p.charCodeAt(j))) return null;
    into.push(parseInt(p, 16));
  }
  const total = words.length + tailWords.length;
  if (dbl >= 0) {
    if (total > 7) return null; // "::" stands for at least one zero group
    while (words.length + tailWords.length < 8) words.push(0);
  } else if (total !== 8) return null;
  words.push(...tailWords);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** True for ::ffff:0:0/96. */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parse an IP address. IPv4-mapped IPv6 becomes IPv4. A `%zone` suffix on IPv6 is ignored
 * (a peer address may carry one; zones play no part in matching). Returns null if invalid.
 */
export function parseIp(s: string): IpAddress | null {
  if (s.includes(":")) {
    const pct = s.indexOf("%");
    const b = parseIpv6(pct >= 0 ? s.slice(0, pct) : s);
    if (!b) return null;
    if (isV4Mapped(b)) return { family: 4, bytes: b.slice(12) };
    return { family: 6, bytes: b };
  }
  const b = parseIpv4(s);
  return b ? { family: 4, bytes: b } : null;
}

/**
 * The form of a peer address used in X-Forwarded-For / Forwarded: IPv4-mapped IPv6 is written
 * as plain IPv4 (what nginx's $remote_addr shows); anything else is returned unchanged.
 */
let lastIp = "";
let lastDisplay = "";
export function displayIp(ip: string): string {
  // Called per proxied request with mostly the same few peers: remember the last answer.
  if (ip === lastIp) return lastDisplay;
  lastIp = ip;
  lastDisplay = displayIpUncached(ip);
  return lastDisplay;
}

function displayIpUncached(ip: string): string {
  if (ip.length > 7 && ip.slice(0, 7).toLowerCase() === "::ffff:" && ip.indexOf(".") > 0) {
    const v4 = ip.slice(7);
    if (parseIpv4(v4)) return v4;
  }
  return ip;
}

function maskHasHostBits(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return true;
  }
  return false;
}

function maskTo(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function formatNetwork(family: 4 | 6, bytes: Uint8Array, prefix: number): string {
  if (family === 4) return `${bytes.join(".")}/${prefix}`;
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return `${words.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}/${prefix}`;
}

/**
 * Parse one CIDR ("10.0.0.0/8", "2001:db8::/32") or bare address (= /32 or /128).
 * Returns a CidrError (not thrown) so config validation can collect messages.
 */
export function parseCidr(input: string): Cidr | CidrError {
  const s = input.trim();
  if (s === "") return new CidrError(input, "empty value");
  const slash = s.indexOf("/");
  const addrText = slash >= 0 ? s.slice(0, slash) : s;
  if (addrText.includes("%")) return new CidrError(input, "zone ids (%...) are not allowed");
  const isV6Text = addrText.includes(":");
  const raw = isV6Text ? parseIpv6(addrText) : parseIpv4(addrText);
  if (!raw) {
    return new CidrError(input, `${JSON.stringify(addrText)} is not an ${isV6Text ? "IPv6" : "IPv4"} address`);
  }
  const maxBits = raw.length * 8;
  let prefix = maxBits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return new CidrError(input, `prefix length ${JSON.stringify(p)} is not a number`);
    prefix = Number(p);
    if (prefix > maxBits) return new CidrError(input, `prefix length ${prefix} exceeds ${maxBits}`);
  }
  let family: 4 | 6 = raw.length === 4 ? 4 : 6;
  let bytes = raw;
  if (family === 6 && isV4Mapped(raw) && prefix >= 96) {
    family = 4;
    bytes = raw.slice(12);
    prefix -= 96;
  }
  if (maskHasHostBits(bytes, prefix)) {
    const net = formatNetwork(family, maskTo(bytes, prefix), prefix);
    return new CidrError(input, `host bits are set beyond /${prefix}; did you mean ${net}?`);
  }
  return { family, bytes, prefix, source: s };
}

export function cidrContains(c: Cidr, ip: IpAddress): boolean {
  if (c.family !== ip.family) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== ip.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (c.bytes[full]! & mask) === (ip.bytes[full]! & mask);
}

/** Parse a whole list; the first invalid entry is returned as the error. */
export function parseCidrList(list: readonly string[]): Cidr[] | CidrError {
  const out: Cidr[] = [];
  for (const s of list) {
    const c = parseCidr(s);
    if (c instanceof CidrError) return c;
    out.push(c);
  }
  return out;
}

/**
 * The set of trusted proxy networks. Default (empty list): nobody is trusted, so client-sent
 * X-Forwarded-* / Forwarded are always dropped. The constructor throws CidrError on a bad entry;
 * config validation should call parseCidrList first to report it nicely.
 */
export class TrustedProxies {
  static readonly none = new TrustedProxies([]);

  readonly cidrs: readonly Cidr[];

  constructor(cidrs: readonly string[]) {
    const parsed = parseCidrList(cidrs);
    if (parsed instanceof CidrError) throw parsed;
    this.cidrs = parsed;
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** Whether the peer address (as the socket reports it) is inside one of the CIDRs. */
  has(ip: string): boolean {
    if (this.cidrs.length === 0) return false;
    const a = parseIp(ip);
    if (!a) return false;
    for (const c of this.cidrs) if (cidrContains(c, a)) return true;
    return false;
  }
}
