/**
 * Directory listing pages (static `browse = true`, issue 10): HTML styled like the error pages
 * (same CSS variables, light and dark), and the JSON shape of the issue. Pure: the entries come
 * from static-handler.ts, which reads the folder.
 *
 * Safety: names come from the file system, which anyone who can create files controls. Every
 * name is HTML-escaped where it is text and percent-encoded (encodeURIComponent, then "./"
 * prefixed) where it is a link, so "<script>" renders as text and "a:b" or "//x" can never be
 * read as a scheme or an authority. No JavaScript; sorting and pages are plain links.
 */
import { CSS } from "./error-page.ts";

export interface ListingEntry {
  /** Decoded file name (UTF-8). */
  readonly name: string;
  readonly dir: boolean;
  /** Bytes (0 for folders). */
  readonly size: number;
  readonly mtimeMs: number;
}

export type SortKey = "name" | "size" | "modified";
export type SortOrder = "asc" | "desc";

export interface ListingView {
  /** The folder's path as the client sees it, decoded, with a trailing "/" ("/docs/"). */
  readonly path: string;
  /** Sorted entries of THIS page. */
  readonly entries: readonly ListingEntry[];
  readonly sort: SortKey;
  readonly order: SortOrder;
  /** 1-based page number and page count. */
  readonly page: number;
  readonly pages: number;
  readonly total: number;
}

/** Entries per page: large folders are paginated (?page=N). */
export const LISTING_PAGE_SIZE = 500;

/** The listing's query: ?sort=name|size|modified&order=asc|desc&page=N; anything else → defaults. */
export function parseListingQuery(query: string): { sort: SortKey; order: SortOrder; page: number } {
  let sort: SortKey = "name";
  let order: SortOrder = "asc";
  let page = 1;
  const q = query.startsWith("?") ? query.slice(1) : query;
  for (const part of q.split("&")) {
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? "" : part.slice(eq + 1);
    if (k === "sort" && (v === "name" || v === "size" || v === "modified")) sort = v;
    else if (k === "order" && (v === "asc" || v === "desc")) order = v;
    else if (k === "page" && /^[1-9][0-9]{0,8}$/.test(v)) page = Number(v);
  }
  return { sort, order, page };
}

/** Folders first, then by the key; names break ties (stable, locale-independent). */
export function sortEntries(entries: ListingEntry[], sort: SortKey, order: SortOrder): ListingEntry[] {
  const dirFirst = (a: ListingEntry, b: ListingEntry) => (a.dir === b.dir ? 0 : a.dir ? -1 : 1);
  const byName = (a: ListingEntry, b: ListingEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const key =
    sort === "size" ? (a: ListingEntry, b: ListingEntry) => a.size - b.size : sort === "modified" ? (a: ListingEntry, b: ListingEntry) => a.mtimeMs - b.mtimeMs : byName;
  const sign = order === "desc" ? -1 : 1;
  return entries.sort((a, b) => dirFirst(a, b) || sign * key(a, b) || byName(a, b));
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A link to a child: always relative to the folder, never a scheme or authority. */
export function childHref(name: string, dir: boolean): string {
  return "./" + encodeURIComponent(name) + (dir ? "/" : "");
}

/** Encoded absolute path of a folder given its decoded path. */
function encodePath(p: string): string {
  return p
    .split("/")
    .map((s) => encodeURIComponent(s))
    .join("/");
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** RFC 3339 time in UTC, second resolution ("2026-12-06T05:09:00Z"). */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

const LISTING_CSS =
  "body{place-items:start center}main{max-width:60rem;width:100%}" +
  "h1{font-size:1.5rem;letter-spacing:0;font-weight:700;margin-bottom:1rem;word-break:break-all}" +
  "h1 a{color:inherit;text-decoration:none}h1 a:hover{text-decoration:underline}" +
  "table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}" +
  "th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--ln)}" +
  "th a{color:var(--mut);text-decoration:none;font-weight:600}td.n{word-break:break-all}" +
  "td.s,td.m,th.s,th.m{text-align:right;white-space:nowrap;color:var(--mut)}" +
  "a{color:var(--a4)}tr:hover td{background:color-mix(in srgb,var(--ln) 35%,transparent)}" +
  "nav.p{margin-top:1rem;display:flex;gap:1rem;color:var(--mut)}";

/** The HTML page. */
export function renderListingHtml(v: ListingView): string {
  const crumbs: string[] = [];
  const segs = v.path.split("/").filter((s) => s !== "");
  let acc = "/";
  crumbs.push(`<a href="/">/</a>`);
  for (const s of segs) {
    acc += s + "/";
    crumbs.push(`<a href="${escapeHtml(encodePath(acc))}">${escapeHtml(s)}/</a>`);
  }
  const q = (sort: SortKey, order: SortOrder, page = 1) => `?sort=${sort}&amp;order=${order}${page > 1 ? `&amp;page=${page}` : ""}`;
  const head = (key: SortKey, label: string, cls: string) => {
    const next: SortOrder = v.sort === key && v.order === "asc" ? "desc" : "asc";
    const arrow = v.sort === key ? (v.order === "asc" ? " ↑" : " ↓") : "";
    return `<th class="${cls}"><a href="${q(key, next)}">${label}${arrow}</a></th>`;
  };
  const rows = v.entries.map((e) => {
    const name = escapeHtml(e.name) + (e.dir ? "/" : "");
    return (
      `<tr><td class="n"><a href="${escapeHtml(childHref(e.name, e.dir))}">${name}</a></td>` +
      `<td class="s">${e.dir ? "—" : formatSize(e.size)}</td><td class="m"><time datetime="${rfc3339(e.mtimeMs)}">${rfc3339(e.mtimeMs).replace("T", " ").replace("Z", " UTC")}</time></td></tr>`
    );
  });
  if (segs.length > 0) rows.unshift(`<tr><td class="n"><a href="../">../</a></td><td class="s"></td><td class="m"></td></tr>`);
  let nav = "";
  if (v.pages > 1) {
    const prev = v.page > 1 ? `<a href="${q(v.sort, v.order, v.page - 1)}">← previous</a>` : "";
    const next = v.page < v.pages ? `<a href="${q(v.sort, v.order, v.page + 1)}">next →</a>` : "";
    nav = `<nav class="p">${prev}<span>page ${v.page} of ${v.pages} (${v.total} entries)</span>${next}</nav>`;
  }
  const title = escapeHtml(v.path);
  return (
    "<!DOCTYPE html>\n" +
    '<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>Index of ${title}</title><style>${CSS}${LISTING_CSS}</style></head>` +
    `<body><main><h1>Index of ${crumbs.join("")}</h1>` +
    `<table><thead><tr>${head("name", "Name", "n")}${head("size", "Size", "s")}${head("modified", "Modified", "m")}</tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>${nav}` +
    "<footer>DreamServer</footer></main></body></html>\n"
  );
}

/** The JSON shape of the issue: {"path", "entries": [{name, dir, size, modified}], "next"}. */
export function renderListingJson(v: ListingView): string {
  const next = v.page < v.pages ? `${encodePath(v.path)}?sort=${v.sort}&order=${v.order}&page=${v.page + 1}` : null;
  return (
    JSON.stringify({
      path: v.path,
      entries: v.entries.map((e) => ({ name: e.name, dir: e.dir, size: e.size, modified: rfc3339(e.mtimeMs) })),
      next,
    }) + "\n"
  );
}

/** Does Accept ask for JSON? application/json listed with q > 0 (RFC 9110 §12.5.1), ASCII case-insensitive. */
export function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.split(";");
    if (type!.replace(/^[ \t]+|[ \t]+$/g, "").replace(/[A-Z]/g, (c) => c.toLowerCase()) !== "application/json") continue;
    const q = params.find((p) => /^[ \t]*[qQ]=/.test(p));
    if (q !== undefined && /^[ \t]*[qQ]=0(\.0{0,3})?[ \t]*$/.test(q)) continue;
    return true;
  }
  return false;
}
