/** "1024", "10k", "10m", "1g", "1.5g", "512KiB" → bytes; null when malformed. */
export function parseSize(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(v.trim());
  if (!m) return null;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const n = Math.floor(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : null;
}

/** "500ms", "10s", "2m", "1h", or a bare number of seconds → milliseconds; null when malformed. */
export function parseDuration(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(v.trim());
  if (!m) return null;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s").toLowerCase() as "ms" | "s" | "m" | "h"];
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : null;
}
