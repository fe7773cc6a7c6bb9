// The admin page tfproxy serves at GET / on --http-port: one self-contained HTML document (no
// build step, no external resources) that reads GET /api/state every second and shows the
// libraries, their functions and triggers with their figures, the streams with their lag, the
// gate, the backend and the fleet.
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
  #status { margin-left: auto; }
  .empty { color: var(--muted); }
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
            <span class="pill">callAsync ${num(l.pending_async_calls)}</span></h3>
        ${l.config !== null ? `<div class="muted">config ${esc(l.config)}</div>` : ""}
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
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";

}  // namespace tfproxy::server
