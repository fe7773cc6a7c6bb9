// The admin page tfproxy serves at GET / on --http-port: one self-contained HTML document (no
// build step, no external resources) that reads GET /api/state every second and shows the
// libraries, their functions and triggers with their figures, the streams with their lag, the
// gate, the backend and the fleet; and makes changes (load, delete, configure) as the Redis
// user whose name and password it is given, sent with each change (POST /api/...).
#pragma once

#include <string_view>

namespace tfproxy::server {

inline constexpr std::string_view kAdminPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tfproxy</title>
<style>
  :root { --fg: #1d2430; --muted: #687385; --line: #e3e7ee; --bg: #f6f8fb; --ok: #1a7f37;
          --bad: #c62828; --accent: #3451b2; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px;
           background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 18px; }
  header .muted { color: var(--muted); }
  main { padding: 16px 24px; display: grid; gap: 16px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 16px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
  .card h2 { margin: 0 0 8px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em;
             color: var(--muted); }
  dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; }
  dt { color: var(--muted); }
  dd { margin: 0; font-variant-numeric: tabular-nums; text-align: right; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
           font-variant-numeric: tabular-nums; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  td.num, th.num { text-align: right; }
  .lib { margin-top: 4px; }
  .lib h3 { margin: 0 0 4px; font-size: 15px; }
  .pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
          background: var(--line); color: var(--fg); }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  .err { color: var(--bad); font-size: 12px; }
  pre { background: var(--bg); padding: 8px; border-radius: 4px; overflow: auto; max-height: 320px;
        font-size: 12px; }
  details { margin: 4px 0; }
  #status { margin-left: auto; }
  .empty { color: var(--muted); }
  form { display: grid; gap: 8px; }
  .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  input, textarea, button { font: inherit; }
  input[type=text], input[type=password] { padding: 4px 6px; border: 1px solid var(--line);
    border-radius: 4px; }
  textarea { width: 100%; min-height: 120px; font-family: ui-monospace, monospace; font-size: 13px;
    padding: 6px; border: 1px solid var(--line); border-radius: 4px; }
  button { padding: 4px 12px; border: 1px solid var(--accent); border-radius: 4px;
    background: var(--accent); color: #fff; cursor: pointer; }
  button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
  #result.bad { color: var(--bad); } #result.ok { color: var(--ok); }
</style>
</head>
<body>
<header>
  <h1>tfproxy</h1><span class="muted" id="version"></span>
  <span id="status" class="muted">connecting&hellip;</span>
</header>
<main>
  <div class="cards">
    <section class="card"><h2>Backend</h2><dl id="backend"></dl></section>
    <section class="card"><h2>Clients</h2><dl id="clients"></dl></section>
    <section class="card"><h2>Forwarded commands</h2><dl id="forwarded"></dl></section>
    <section class="card"><h2>Atomic gate</h2><dl id="gate"></dl></section>
  </div>
  <section class="card"><h2>Libraries</h2><div id="libraries"></div></section>
  <section class="card"><h2>Streams read by stream triggers</h2><div id="streams"></div></section>
  <section class="card"><h2>Changes</h2>
    <form id="changes" autocomplete="off">
      <div class="row">
        <label>Redis user <input type="text" id="user" value="default" size="12"></label>
        <label>password <input type="password" id="password" size="16"></label>
        <span class="muted">checked against the backend with each change; the user's rights decide</span>
      </div>
      <textarea id="code" placeholder="#!js api_version=1.0 name=lib&#10;redis.registerFunction('f', () => 1);"></textarea>
      <div class="row">
        <label><input type="checkbox" id="replace" checked> replace</label>
        <label>configuration (JSON) <input type="text" id="config" size="24"></label>
        <button type="button" id="load">Load library</button>
        <span id="result"></span>
      </div>
      <div class="row">
        <label>setting redisgears_2.<input type="text" id="setting" size="18"
          placeholder="lock-redis-timeout"></label>
        <label>value <input type="text" id="value" size="10"></label>
        <button type="button" id="set">Set</button>
      </div>
    </form>
  </section>
  <section class="card" id="folder-card" hidden><h2>Library folder <span id="folder-path"
    class="muted"></span></h2><div id="folder"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g,
    (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
const num = (n) => Number(n).toLocaleString("en-US");
const ms = (seconds) => seconds === 0 ? "-" : (seconds * 1000).toLocaleString("en-US",
    {maximumFractionDigits: 3}) + " ms";
const bytes = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" :
    n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
// Libraries whose code is shown, and the code fetched for them (kept across refreshes).
const openCode = new Set();
const codeOf = new Map();
function pairs(rows) {
  return rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("");
}
function render(s) {
  $("version").textContent = `version ${s.version} · pid ${s.process_id} · up ${s.uptime_seconds} s`;
  const b = s.backend;
  $("backend").innerHTML = pairs([
    ["address", esc(b.address) + (b.embedded ? " (embedded)" : "") + (b.tls ? " (TLS)" : "")],
    ["state", b.reachable ? '<span class="ok">reachable</span>'
                          : `<span class="bad">unreachable</span> ${esc(b.error)}`],
    ["role", esc(b.role)],
    ["reconnects", num(b.reconnects)],
    ["cluster primaries", b.cluster_primaries ? num(b.cluster_primaries) : "not a cluster"],
  ]);
  $("clients").innerHTML = pairs([
    ["connected", num(s.clients.connected)],
    ["on their own connection", num(s.clients.pinned)],
    ["accepted", num(s.clients.received)],
    ["refused (maxclients)", num(s.clients.rejected)],
    ["bytes in / out", bytes(s.bytes_in) + " / " + bytes(s.bytes_out)],
  ]);
  $("forwarded").innerHTML = pairs(Object.entries(s.forwarded).map(([k, v]) => [k, num(v)]));
  const g = s.gate;
  $("gate").innerHTML = pairs([
    ["sections", num(g.hold.count)],
    ["hold p50 / p99", ms(g.hold.p50) + " / " + ms(g.hold.p99)],
    ["drain wait p99", ms(g.drain_wait.p99)],
    ["waiting now", num(g.waiting)],
    ["fleet", g.fleet ? (g.fleet_in_step ? '<span class="ok">in step</span>'
                                          : '<span class="bad">out of step</span>') : "off"],
  ]);
  if (s.libraries.length === 0) {
    $("libraries").innerHTML = '<p class="empty">No library loaded. Load one with ' +
        "<code>TFUNCTION LOAD</code>.</p>";
  } else {
    $("libraries").innerHTML = s.libraries.map((l) => `
      <div class="lib" data-library="${esc(l.name)}">
        <h3>${esc(l.name)} <span class="pill">user ${esc(l.user)}</span>
            <span class="pill">api ${esc(l.api_version)}</span>
            <span class="pill">heap ${bytes(l.used_heap)}</span>
            <span class="pill">jobs ${num(l.pending_jobs)}</span>
            <span class="pill">callAsync ${num(l.pending_async_calls)}</span>
            <button type="button" class="danger" data-delete="${esc(l.name)}">Delete</button></h3>
        ${l.config !== null ? `<div class="muted">config ${esc(l.config)}</div>` : ""}
        <details data-code="${esc(l.name)}" ${openCode.has(l.name) ? "open" : ""}>
          <summary class="muted">code (${bytes(l.code_bytes)})</summary>
          <pre>${esc(codeOf.get(l.name) ?? "")}</pre></details>
        <table><thead><tr><th>name</th><th>kind</th><th class="num">runs</th>
          <th class="num">failed</th><th class="num">p50</th><th class="num">p99</th>
          <th class="num">mean</th></tr></thead><tbody>
        ${l.runnables.map((r) => `<tr data-name="${esc(r.name)}">
          <td>${esc(r.name)}${r.last_error ? `<div class="err">${esc(r.last_error)}</div>` : ""}</td>
          <td>${esc(r.kind)}</td><td class="num runs">${num(r.runs)}</td>
          <td class="num">${num(r.failures)}</td><td class="num">${ms(r.latency.p50)}</td>
          <td class="num">${ms(r.latency.p99)}</td>
          <td class="num">${r.latency.count ? ms(r.latency.sum_seconds / r.latency.count) : "-"}</td>
          </tr>`).join("")}
        </tbody></table>
      </div>`).join("");
  }
  const streams = s.libraries.flatMap((l) => l.streams.map((st) => ({...st, library: l.name})));
  $("streams").innerHTML = streams.length === 0 ? '<p class="empty">None.</p>' :
    `<table><thead><tr><th>trigger</th><th>db</th><th>stream</th><th class="num">processed</th>
     <th class="num">lag</th><th class="num">in flight</th></tr></thead><tbody>` +
    streams.map((st) => `<tr><td>${esc(st.library + "." + st.trigger)}</td><td>${st.db}</td>
      <td>${esc(st.key)}</td><td class="num">${num(st.processed)}</td>
      <td class="num">${num(st.lag_ms)} ms</td><td class="num">${num(st.pending)}</td></tr>`)
      .join("") + "</tbody></table>";
}
function renderFolder(s) {
  $("folder-card").hidden = s.library_dir === "";
  if (s.library_dir === "") return;
  $("folder-path").textContent = s.library_dir;
  $("folder").innerHTML = s.library_files.length === 0 ? '<p class="empty">No *.js file.</p>' :
    `<table><thead><tr><th>file</th><th>library</th><th>state</th></tr></thead><tbody>` +
    s.library_files.map((f) => `<tr data-file="${esc(f.path)}"><td>${esc(f.path)}</td>
      <td>${esc(f.library)}</td><td>${f.error ? `<span class="err">${esc(f.error)}</span>` :
      '<span class="ok">loaded ' + new Date(f.loaded_at * 1000).toLocaleTimeString() + "</span>"}
      </td></tr>`).join("") + "</tbody></table>";
}
async function refresh() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    const state = await response.json();
    render(state);
    renderFolder(state);
    $("status").textContent = "live · " + new Date().toLocaleTimeString();
    $("status").className = "ok";
  } catch (e) {
    $("status").textContent = "cannot reach tfproxy";
    $("status").className = "bad";
  }
}
// A change, as the Redis user named in the form; the answer shows next to the Load button.
async function change(path, fields) {
  const body = new URLSearchParams({user: $("user").value, password: $("password").value,
                                    ...fields});
  let text, ok = false;
  try {
    const response = await fetch(path, {method: "POST", body,
        headers: {"X-Tfproxy-Admin": "1"}});
    const answer = await response.json();
    ok = answer.ok === true;
    text = ok ? "done" : answer.error;
  } catch (e) {
    text = "cannot reach tfproxy";
  }
  $("result").textContent = text;
  $("result").className = ok ? "ok" : "bad";
  refresh();
}
$("load").addEventListener("click", () => change("/api/load", {
  code: $("code").value, replace: $("replace").checked ? "1" : "0", config: $("config").value}));
$("set").addEventListener("click", () => change("/api/config",
  {name: $("setting").value, value: $("value").value}));
$("libraries").addEventListener("toggle", async (event) => {
  const details = event.target.closest("details[data-code]");
  if (!details) return;
  const name = details.dataset.code;
  if (!details.open) { openCode.delete(name); return; }
  openCode.add(name);
  const response = await fetch("/api/code?library=" + encodeURIComponent(name));
  codeOf.set(name, await response.text());
  details.querySelector("pre").textContent = codeOf.get(name);
}, true);
$("libraries").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-delete]");
  if (button && confirm(`Delete library ${button.dataset.delete}?`)) {
    change("/api/delete", {library: button.dataset.delete});
  }
});
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";

}  // namespace tfproxy::server
