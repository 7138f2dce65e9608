/**
 * hidden and symlinks policies of a static route (issue 10): today's behaviour is the default
 * (dotfiles 404, symlinks followed while they stay inside the root), and each alternative —
 * hidden = "allow", symlinks = "follow", symlinks = "deny" — on the same tree.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { expectErrorPage, makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer } from "./harness.ts";

let root: string;
let outside: string;
let cfgDir: string;
let s: RunningServer;

beforeAll(async () => {
  root = makeRoot({ "real.txt": "real\n", ".env": "SECRET=1\n", "sub/page.txt": "page\n" });
  outside = makeRoot({ "secret.txt": "outside the root\n" });
  fs.symlinkSync(path.join(root, "real.txt"), path.join(root, "in.txt"));
  fs.symlinkSync(path.join(outside, "secret.txt"), path.join(root, "out.txt"));
  fs.symlinkSync(path.join(root, "sub"), path.join(root, "linkdir"));
  const route = (name: string, extra: string) =>
    `[[site.route]]\npath = "/${name}/"\nstrip_prefix = "/${name}"\nstatic = { root = ${JSON.stringify(root)}${extra} }\n\n`;
  cfgDir = makeRoot({
    "ds.toml":
      `[[site]]\nlisten = ["127.0.0.1:0"]\n\n` +
      route("default", "") +
      route("allow", `, hidden = "allow"`) +
      route("follow", `, symlinks = "follow"`) +
      route("deny", `, symlinks = "deny"`),
  });
  s = await startServer(["--config", path.join(cfgDir, "ds.toml")]);
});

afterAll(async () => {
  await s?.stop();
  rmRoot(root);
  rmRoot(outside);
  rmRoot(cfgDir);
});

const cases: Array<[string, number, string | null]> = [
  // defaults: today's behaviour
  ["/default/.env", 404, null],
  ["/default/in.txt", 200, "real\n"],
  ["/default/out.txt", 404, null],
  ["/default/linkdir/page.txt", 200, "page\n"],
  // hidden = "allow"
  ["/allow/.env", 200, "SECRET=1\n"],
  ["/allow/out.txt", 404, null],
  // symlinks = "follow"
  ["/follow/out.txt", 200, "outside the root\n"],
  ["/follow/.env", 404, null],
  // symlinks = "deny"
  ["/deny/real.txt", 200, "real\n"],
  ["/deny/in.txt", 404, null],
  ["/deny/out.txt", 404, null],
  ["/deny/linkdir/page.txt", 404, null],
  ["/deny/sub/page.txt", 200, "page\n"],
];
test.each(cases)("GET %s → %d", async (target, status, body) => {
  const r = await get(s.port, target);
  if (body === null) expectErrorPage(r, status);
  else {
    expect(r.status).toBe(status);
    expect(r.body.toString()).toBe(body);
  }
});

test("the access log names the policy that refused", async () => {
  await get(s.port, "/deny/in.txt");
  await get(s.port, "/default/out.txt");
  const log = await (async () => {
    for (let i = 0; i < 100; i++) {
      const l = s.readLog();
      if (l.includes("PATH_SYMLINK_DENIED") && l.includes("PATH_SYMLINK_ESCAPE")) return l;
      await Bun.sleep(20);
    }
    return s.readLog();
  })();
  expect(log).toContain("PATH_SYMLINK_DENIED");
  expect(log).toContain("PATH_SYMLINK_ESCAPE");
});
