/**
 * The dashboard page: one HTML document with its CSS and script inline (no external assets, so
 * it works air-gapped and under a strict Content-Security-Policy). It listens to
 * /dashboard/events (server-sent events, about one a second) and draws the last five minutes.
 * Light and dark follow prefers-color-scheme.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DreamServer dashboard</title>
<style>
:root { --bg:#f6f7f9; --card:#fff; --fg:#1b1f24; --muted:#5b6470; --line:#d9dde3; --accent:#2563eb;
  --s2:#16a34a; --s3:#0891b2; --s4:#d97706; --s5:#dc2626; --s1:#7c3aed; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0f1217; --card:#171b22; --fg:#e6e9ee; --muted:#98a2b0; --line:#2a303a; --accent:#60a5fa;
    --s2:#4ade80; --s3:#22d3ee; --s4:#fbbf24; --s5:#f87171; --s1:#a78bfa; }
}
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; align-items:baseline; gap:12px; padding:16px 24px; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; }
#state { color:var(--muted); font-size:12px; }
#state.live::before { content:"● "; color:var(--s2); }
#state.down::before { content:"● "; color:var(--s5); }
main { display:grid; grid-template-columns:repeat(auto-fit,minmax(260px,1fr)); gap:16px; padding:16px 24px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card h2 { margin:0 0 8px; font-size:12px; font-weight:600; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.big { font-size:30px; font-weight:650; font-variant-numeric:tabular-nums; }
.unit { font-size:13px; color:var(--muted); font-weight:400; }
.row { display:flex; gap:18px; font-variant-numeric:tabular-nums; }
.row div span { display:block; font-size:12px; color:var(--muted); }
.row div b { font-size:20px; }
svg { width:100%; height:70px; display:block; margin-top:8px; }
.mix { display:flex; height:12px; border-radius:6px; overflow:hidden; background:var(--line); margin:10px 0 6px; }
.mix i { display:block; height:100%; }
.legend { display:flex; flex-wrap:wrap; gap:10px; font-size:12px; color:var(--muted); font-variant-numeric:tabular-nums; }
.legend b::before { content:""; display:inline-block; width:8px; height:8px; border-radius:2px; margin-right:4px; background:var(--c); }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; font-size:13px; }
td, th { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:500; font-size:12px; }
td.n, th.n { text-align:right; }
.wide { grid-column:1 / -1; }
.empty { color:var(--muted); font-style:italic; }
@media (min-width: 700px) { .span2 { grid-column: span 2; } }
.nowrap td, .nowrap th { white-space:nowrap; }
.st::before { content:"● "; }
.st.up::before { color:var(--s2); } .st.down::before { color:var(--s5); } .st.drained::before { color:var(--muted); }
.st.down { color:var(--s5); } .st.drained { color:var(--muted); }
</style>
</head>
<body>
<header><h1>DreamServer</h1><span id="state">connecting…</span></header>
<main>
  <section class="card"><h2>Requests</h2>
    <div class="big"><span id="rps">–</span> <span class="unit">req/s</span></div>
    <svg id="rps-chart" viewBox="0 0 300 70" preserveAspectRatio="none"><path id="rps-path" fill="none" stroke="var(--accent)" stroke-width="2"/></svg>
  </section>
  <section class="card"><h2>Latency</h2>
    <div class="row"><div><span>p50</span><b id="p50">–</b></div><div><span>p95</span><b id="p95">–</b></div><div><span>p99</span><b id="p99">–</b></div></div>
    <svg id="lat-chart" viewBox="0 0 300 70" preserveAspectRatio="none"><path id="p99-path" fill="none" stroke="var(--s4)" stroke-width="2"/><path id="p50-path" fill="none" stroke="var(--accent)" stroke-width="2"/></svg>
  </section>
  <section class="card"><h2>Status mix</h2>
    <div class="mix" id="mix"></div>
    <div class="legend" id="legend"></div>
  </section>
  <section class="card"><h2>Connections</h2>
    <div class="row"><div><span>open</span><b id="conns">–</b></div><div><span>WebSocket</span><b id="tunnels">–</b></div><div><span>memory</span><b id="rss">–</b></div></div>
  </section>
  <section class="card"><h2>Top routes</h2>
    <table><thead><tr><th>site/route</th><th class="n">req/s</th></tr></thead><tbody id="top"><tr><td class="empty" colspan="2">no traffic yet</td></tr></tbody></table>
  </section>
  <section class="card span2"><h2>Upstreams</h2>
    <table class="nowrap"><thead><tr><th>group</th><th>server</th><th>state</th><th class="n">in flight</th><th class="n">req/s</th></tr></thead><tbody id="upstreams"><tr><td class="empty" colspan="5">no upstream groups</td></tr></tbody></table>
  </section>
  <section class="card wide"><h2>Recent errors</h2>
    <table><thead><tr><th>time</th><th>status</th><th>code</th><th>method</th><th>site/route</th></tr></thead><tbody id="errors"><tr><td class="empty" colspan="5">none</td></tr></tbody></table>
  </section>
</main>
<script>
"use strict";
const COLORS = { "1xx": "var(--s1)", "2xx": "var(--s2)", "3xx": "var(--s3)", "4xx": "var(--s4)", "5xx": "var(--s5)" };
const ticks = [];
let received = 0;
const $ = (id) => document.getElementById(id);
function fmtRate(v) { return v >= 1000 ? (v / 1000).toFixed(1) + "k" : v >= 10 ? v.toFixed(0) : v.toFixed(1); }
function fmtTime(s) { if (s === null || s === undefined) return "–"; return s < 0.001 ? (s * 1e6).toFixed(0) + " µs" : s < 1 ? (s * 1000).toFixed(1) + " ms" : s.toFixed(2) + " s"; }
function fmtBytes(b) { return b >= 1 << 30 ? (b / (1 << 30)).toFixed(1) + " GiB" : (b / (1 << 20)).toFixed(0) + " MiB"; }
function path(values, max) {
  if (values.length < 2) return "";
  const n = values.length, top = max || Math.max(1e-9, ...values);
  return values.map((v, i) => (i ? "L" : "M") + (i * 300 / (n - 1)).toFixed(1) + "," + (68 - 66 * (v || 0) / top).toFixed(1)).join(" ");
}
function text(el, s) { el.textContent = s; }
function cell(tr, s, cls) { const td = document.createElement("td"); td.textContent = s; if (cls) td.className = cls; tr.appendChild(td); }
function draw(errors) {
  const t = ticks[ticks.length - 1];
  if (!t) return;
  text($("rps"), fmtRate(t.rps));
  text($("p50"), fmtTime(t.p50)); text($("p95"), fmtTime(t.p95)); text($("p99"), fmtTime(t.p99));
  text($("conns"), String(t.connections)); text($("tunnels"), String(t.tunnels)); text($("rss"), fmtBytes(t.rssBytes));
  $("rps-path").setAttribute("d", path(ticks.map((x) => x.rps)));
  const lat = ticks.map((x) => x.p99 || 0);
  const top = Math.max(1e-9, ...lat);
  $("p99-path").setAttribute("d", path(lat, top));
  $("p50-path").setAttribute("d", path(ticks.map((x) => x.p50 || 0), top));
  const total = Object.values(t.status).reduce((a, b) => a + b, 0);
  const mix = $("mix"), legend = $("legend");
  mix.replaceChildren(); legend.replaceChildren();
  for (const k of Object.keys(COLORS)) {
    const v = t.status[k] || 0;
    if (total > 0 && v > 0) { const i = document.createElement("i"); i.style.width = (100 * v / total) + "%"; i.style.background = COLORS[k]; mix.appendChild(i); }
    const b = document.createElement("b"); b.style.setProperty("--c", COLORS[k]); b.textContent = k + " " + (total ? (100 * v / total).toFixed(1) : "0") + "%"; legend.appendChild(b);
  }
  const tb = $("top"); tb.replaceChildren();
  if (!t.top.length) { const tr = document.createElement("tr"); cell(tr, "no traffic", "empty"); tb.appendChild(tr); }
  for (const r of t.top) { const tr = document.createElement("tr"); cell(tr, r.route); cell(tr, fmtRate(r.rps), "n"); tb.appendChild(tr); }
  const ub = $("upstreams"); ub.replaceChildren();
  const ups = t.upstreams || [];
  if (!ups.length) { const tr = document.createElement("tr"); cell(tr, "no upstream groups", "empty"); ub.appendChild(tr); }
  for (const u of ups) { const tr = document.createElement("tr"); cell(tr, u.group); cell(tr, u.server); cell(tr, u.state, "st " + u.state); cell(tr, String(u.inflight), "n"); cell(tr, fmtRate(u.rps), "n"); ub.appendChild(tr); }
  if (errors) {
    const eb = $("errors"); eb.replaceChildren();
    if (!errors.length) { const tr = document.createElement("tr"); cell(tr, "none", "empty"); eb.appendChild(tr); }
    for (const e of errors) { const tr = document.createElement("tr"); cell(tr, new Date(e.t).toLocaleTimeString()); cell(tr, String(e.status)); cell(tr, e.code); cell(tr, e.method); cell(tr, e.route); eb.appendChild(tr); }
  }
  document.body.dataset.ticks = String(received);
}
const es = new EventSource("dashboard/events");
es.addEventListener("history", (ev) => { for (const t of JSON.parse(ev.data)) ticks.push(t); draw(null); });
es.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  received++;
  ticks.push(m.tick);
  if (ticks.length > 300) ticks.shift();
  draw(m.errors);
};
es.onopen = () => { $("state").className = "live"; text($("state"), "live · updates every second"); };
es.onerror = () => { $("state").className = "down"; text($("state"), "disconnected · retrying"); };
</script>
</body>
</html>
`;
