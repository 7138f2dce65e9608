/**
 * Upstream groups in the config: [upstream.NAME] and proxy = { upstream = "NAME" }, inline `to`
 * lists as anonymous groups (URLs or { url, weight, max_conns, backup } tables), every mistake
 * reported at its field with a how-to-fix message (as --check prints it, FILE:LINE: path: …),
 * and --print-config output that loads back to the same Config.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config, ProxyConfig } from "../../src/config/config.ts";
import { formatProblem, loadConfigText, type LoadResult } from "../../src/config/load.ts";
import { printConfig } from "../../src/config/print.ts";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-config-upstream-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const load = (text: string, name = "c.toml"): LoadResult => loadConfigText(text, path.join(dir, name), { cpus: 2 });
function ok(r: LoadResult): Config {
  if (!r.ok) throw new Error(r.problems.map((p) => formatProblem(p, r.file)).join("\n"));
  return r.config;
}
function plain(c: Config): unknown {
  return JSON.parse(JSON.stringify({ ...c, source: null }, (_k, v) => (v instanceof URL ? v.href : v instanceof RegExp ? `/${v.source}/` : v)));
}
const proxyOf = (c: Config, route = 0): ProxyConfig => (c.sites[0]!.routes[route]!.action as { proxy: ProxyConfig }).proxy;

const FULL = `
[upstream.app]
to = ["http://127.0.0.1:3001", "http://127.0.0.1:3002", { url = "http://127.0.0.1:3003", weight = 3, max_conns = 100, backup = true }]
policy = "round_robin"
retries = 2
try_duration = "5s"
health = { path = "/healthz", interval = "2s", timeout = "1s", status = "2xx", passes = 2, fails = 2 }
passive = { max_fails = 3, fail_timeout = "10s", unhealthy_status = [502, 503, 504] }

[upstream.users]
to = ["http://127.0.0.1:4001", "http://127.0.0.1:4002"]
policy = "hash"
hash_key = "{header.X-User}"
health = { path = "/up", host = "users.internal", body = "^ok", status = "204" }

[[site]]
listen = ["127.0.0.1:8080"]

  [[site.route]]
  path = "/users/"
  proxy = { upstream = "users" }

  [[site.route]]
  path = "/inline/"
  proxy = { to = ["http://127.0.0.1:5001", { url = "http://127.0.0.1:5002", weight = 2 }] }

  [[site.route]]
  path = "/"
  proxy = { upstream = "app" }
`;

describe("valid groups", () => {
  test("the Config has what the file says, defaults filled in", () => {
    const c = ok(load(FULL));
    expect(c.upstreams.map((g) => g.name)).toEqual(["app", "users"]);
    const app = proxyOf(c, 2).group;
    expect(app).toBe(c.upstreams[0]!);
    expect(app.servers.map((s) => [s.url.href, s.weight, s.maxConns, s.backup])).toEqual([
      ["http://127.0.0.1:3001/", 1, 0, false],
      ["http://127.0.0.1:3002/", 1, 0, false],
      ["http://127.0.0.1:3003/", 3, 100, true],
    ]);
    expect(app).toMatchObject({ policy: "round_robin", retries: 2, tryDurationMs: 5000, resolveIntervalMs: 30_000, passive: { maxFails: 3, failTimeoutMs: 10_000, unhealthyStatus: [502, 503, 504] } });
    expect(app.health).toMatchObject({ path: "/healthz", host: null, intervalMs: 2000, timeoutMs: 1000, statusMin: 200, statusMax: 299, passes: 2, fails: 2, body: null });
    const users = proxyOf(c, 0).group;
    expect(users.policy).toBe("hash");
    expect(users.hashKey!.source).toBe("{header.X-User}");
    expect(users.health).toMatchObject({ host: "users.internal", body: "^ok", statusMin: 204, statusMax: 204, intervalMs: 2000, timeoutMs: 1000 });
    const inline = proxyOf(c, 1);
    expect(inline.group.name).toBeNull();
    expect(inline.group).toMatchObject({ policy: "round_robin", retries: 1, tryDurationMs: 0, health: null, passive: { maxFails: 1, failTimeoutMs: 10_000, unhealthyStatus: [] } });
    expect(inline.group.servers.map((s) => s.weight)).toEqual([1, 2]);
    expect(inline.url.href).toBe("http://127.0.0.1:5001/");
  });
  test("one URL in to stays valid (a group of one)", () => {
    const c = ok(load(`[[site]]\nlisten = ["8080"]\n[[site.route]]\npath = "/"\nproxy = { to = "http://127.0.0.1:3000/base" }\n`));
    expect(proxyOf(c).group.servers.length).toBe(1);
    expect(proxyOf(c).url.href).toBe("http://127.0.0.1:3000/base");
  });
  test.each(["c.toml", "c.yaml", "c.json"])("--print-config loads back to the same Config (%s)", (name) => {
    const text = name === "c.toml" ? FULL : name === "c.yaml" ? Bun.YAML?.stringify?.(Bun.TOML.parse(FULL)) : JSON.stringify(Bun.TOML.parse(FULL));
    if (text === undefined) return; // no YAML emitter in this Bun: TOML and JSON cover it
    const first = ok(load(text, name));
    const printed = printConfig(first);
    expect(printed).toContain("[upstream]");
    expect(printed).toContain('upstream = "app"');
    const again = ok(load(printed, "printed.toml"));
    expect(plain(again)).toEqual(plain(first));
    expect(printConfig(again).split("\n").slice(1)).toEqual(printed.split("\n").slice(1));
  });
});

const SITE = (proxy: string) => `[[site]]\nlisten = ["8080"]\n[[site.route]]\npath = "/"\nproxy = ${proxy}\n`;

describe("mistakes: FILE:LINE: path: what is wrong; how to fix it", () => {
  test.each<[string, string, string, string]>([
    ["unknown group", SITE(`{ upstream = "ap" }`) + `[upstream.app]\nto = ["http://a:1"]\n`, "site[0].route[0].proxy.upstream", 'no upstream group "ap"; did you mean "app"?'],
    ["no groups at all", SITE(`{ upstream = "app" }`), "site[0].route[0].proxy.upstream", 'no upstream group "app"; define it with [upstream.app]'],
    ["to and upstream", SITE(`{ upstream = "app", to = ["http://a:1"] }`) + `[upstream.app]\nto = ["http://a:1"]\n`, "site[0].route[0].proxy.upstream", "either to = [...] or upstream"],
    ["group without to", SITE(`{ upstream = "app" }`) + `[upstream.app]\npolicy = "first"\n`, "upstream.app.to", "a group needs servers"],
    ["unknown policy", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\npolicy = "round-robin"\n`, "upstream.app.policy", 'did you mean "round_robin"?'],
    ["hash without hash_key", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\npolicy = "hash"\n`, "upstream.app.hash_key", 'policy = "hash" needs a key'],
    ["hash_key without hash", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhash_key = "{remote_ip}"\n`, "upstream.app.hash_key", 'only used by policy = "hash"'],
    ["bad placeholder in hash_key", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\npolicy = "hash"\nhash_key = "{heder.X}"\n`, "upstream.app.hash_key", "heder"],
    ["weight 0", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = [{ url = "http://a:1", weight = 0 }]\n`, "upstream.app.to[0].weight", "out of range"],
    ["unknown server key", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = [{ url = "http://a:1", wieght = 2 }]\n`, "upstream.app.to[0].wieght", 'did you mean "weight"?'],
    ["server table without url", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = [{ weight = 2 }]\n`, "upstream.app.to[0].url", "needs its url"],
    ["only backups", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = [{ url = "http://a:1", backup = true }]\n`, "upstream.app.to", "every server is a backup"],
    ["mixed schemes", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1", "https://b:2"]\n`, "upstream.app.to[1]", "same scheme and base path"],
    ["mixed base paths", SITE(`{ to = ["http://a:1/x", "http://b:2/y"] }`), "site[0].route[0].proxy.to[1]", "same scheme and base path"],
    ["duplicate server", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1", "http://a:1"]\n`, "upstream.app.to[1]", "list each server once"],
    ["retries out of range", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nretries = -1\n`, "upstream.app.retries", "out of range"],
    ["bad resolve_interval", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nresolve_interval = "0s"\n`, "upstream.app.resolve_interval", "must be more than 0"],
    ["bad try_duration", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\ntry_duration = "soon"\n`, "upstream.app.try_duration", "is not a duration"],
    ["timeout not below interval", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { path = "/h", interval = "1s", timeout = "1s" }\n`, "upstream.app.health.timeout", "must be less than the interval"],
    ["default timeout above a short interval", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { path = "/h", interval = "500ms" }\n`, "upstream.app.health.interval", "must be less than the interval"],
    ["health without path", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { interval = "2s" }\n`, "upstream.app.health.path", "needs a path"],
    ["bad health status", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { path = "/h", status = "2XX" }\n`, "upstream.app.health.status", 'a class such as "2xx"'],
    ["bad body regex", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { path = "/h", body = "(" }\n`, "upstream.app.health.body", "not a valid JavaScript regular expression"],
    ["unknown health key", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nhealth = { path = "/h", pases = 2 }\n`, "upstream.app.health.pases", 'did you mean "passes"?'],
    ["bad unhealthy_status", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\npassive = { unhealthy_status = [5000] }\n`, "upstream.app.passive.unhealthy_status[0]", "is not a status code"],
    ["bad cookie name", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\npolicy = "cookie"\ncookie = "a b"\n`, "upstream.app.cookie", "is not a cookie name"],
    ["bad group name", SITE(`{ to = "http://a:1" }`) + `[upstream."a b"]\nto = ["http://a:1"]\n`, 'upstream["a b"]', "is not a group name"],
    ["unknown group key", SITE(`{ upstream = "app" }`) + `[upstream.app]\nto = ["http://a:1"]\nretry = 2\n`, "upstream.app.retry", "known keys here: to, policy"],
  ])("%s", (_name, text, at, fragment) => {
    const r = load(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const p = r.problems.find((x) => x.path === at);
    if (!p) throw new Error(`no problem at ${at}; got ${JSON.stringify(r.problems)}`);
    expect(p.message).toContain(fragment);
    const line = formatProblem(p, r.file);
    expect(line.startsWith(`${r.file}:`)).toBe(true);
  });
});
