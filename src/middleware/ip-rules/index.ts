/**
 * `ip_allow` / `ip_deny` of a route: 403 IP_DENIED for a client outside the allowed networks or
 * inside a denied one (deny is checked first). The client is the address trusted proxies report
 * (client-address.ts). Matching is per family (src/proxy/cidr.ts); an IPv4-mapped IPv6 client
 * (`::ffff:10.1.2.3`, what a dual-stack listener reports) and a mapped rule
 * (`::ffff:10.0.0.0/104`) both count as IPv4, so IPv4 rules apply to them.
 */
import type { Handler } from "../../handler.ts";
import { cidrContains, parseCidrList, parseIp, CidrError, type Cidr, type TrustedProxies } from "../../proxy/cidr.ts";
import { clientAddress } from "../client-address.ts";
import type { Middleware } from "../decorator.ts";

export interface IpRules {
  readonly allow: readonly string[] | null;
  readonly deny: readonly string[] | null;
}

/** Whether `ip` may pass: not in deny, and in allow when allow is given. Unparseable = refused. */
export function ipAllowed(ip: string, allow: readonly Cidr[] | null, deny: readonly Cidr[] | null): boolean {
  const a = parseIp(ip);
  if (a === null) return false;
  if (deny) for (const c of deny) if (cidrContains(c, a)) return false;
  if (!allow) return true;
  for (const c of allow) if (cidrContains(c, a)) return true;
  return false;
}

function parsed(list: readonly string[] | null): Cidr[] | null {
  if (list === null) return null;
  const r = parseCidrList(list);
  if (r instanceof CidrError) throw r; // the validator has already refused bad entries
  return r;
}

export function ipRules(rules: IpRules, trusted: TrustedProxies): Middleware {
  const allow = parsed(rules.allow);
  const deny = parsed(rules.deny);
  // Most traffic comes from few addresses (a front proxy, a keep-alive client): remember the last answer.
  let lastIp = "";
  let lastOk = false;
  return (next: Handler): Handler =>
    (ex) => {
      const ip = clientAddress(ex, trusted);
      if (ip !== lastIp) {
        lastOk = ipAllowed(ip, allow, deny);
        lastIp = ip;
      }
      if (lastOk) next(ex);
      else ex.sendError(403, "IP_DENIED");
    };
}
