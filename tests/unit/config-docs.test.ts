/**
 * docs/configuration.md is generated from the schema (scripts/gen-config-docs.ts) and must be
 * committed as generated, so it cannot drift; its TOML, YAML and JSON examples are one config.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../src/config/config.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { SCHEMA, type TableNode } from "../../src/config/schema.ts";
import { EXAMPLE_TOML, generateConfigDocs } from "../../scripts/gen-config-docs.ts";

const REPO = path.resolve(import.meta.dir, "../..");
const doc = fs.readFileSync(path.join(REPO, "docs/configuration.md"), "utf8");

test("docs/configuration.md equals the generator output (run: bun scripts/gen-config-docs.ts)", () => {
  expect(doc).toBe(generateConfigDocs());
});

test("every schema key has a row", () => {
  const keys: string[] = [];
  const walk = (n: TableNode, prefix: string): void => {
    for (const [k, c] of Object.entries(n.fields)) {
      const name = prefix ? `${prefix}.${k}` : k;
      keys.push(name);
      if (c.kind === "table") walk(c, name);
    }
  };
  walk(SCHEMA, "");
  expect(keys.length).toBeGreaterThan(60);
  for (const k of keys) expect(doc.includes("`" + k + "`") || doc.includes("`[[" + k + "]]`") || doc.includes("[" + k + "]")).toBe(true);
});

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-config-docs-"));
  fs.mkdirSync(path.join(dir, "public"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("the YAML and JSON examples in the doc load to the same Config as the TOML one", () => {
  const block = (lang: string): string => {
    const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)\\n```").exec(doc);
    if (!m) throw new Error(`no ${lang} block`);
    return m[1]! + "\n";
  };
  expect(block("toml")).toBe(EXAMPLE_TOML);
  const load = (name: string, text: string): unknown => {
    const r = loadConfigText(text, path.join(dir, name), { cpus: 2 });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return JSON.parse(JSON.stringify({ ...r.config, source: null } satisfies Config, (_k, v) => (v instanceof URL ? v.href : v instanceof RegExp ? v.source : v)));
  };
  const t = load("x.toml", block("toml"));
  expect(load("x.yaml", block("yaml"))).toEqual(t);
  expect(load("x.json", block("json"))).toEqual(t);
});
