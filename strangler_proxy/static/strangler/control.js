// The control centre: polls the admin API (/_strangler/...) with a staff token kept in
// sessionStorage, renders it, and changes routes after a confirmation. No framework, no build.
"use strict";

const TOKEN_KEY = "strangler.token";
const POLL_MS = Number(document.body.dataset.pollMs || 2000);
let timer = null;
let editing = null; // the route whose controls have focus: not re-rendered under the user

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fill(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows);
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
  });
  if (response.status === 401) {
    logout("Your token was refused (staff only, or it expired).");
    throw new Error("unauthorised");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

// --- login --------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("/api/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || !data.access) {
    document.getElementById("login-error").textContent = data.detail || "Login failed.";
    return;
  }
  start(data.access);
}

function useToken(event) {
  event.preventDefault();
  start(new FormData(event.target).get("token").trim());
}

function start(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  document.getElementById("login-error").textContent = "";
  document.getElementById("login").hidden = true;
  document.getElementById("dashboard").hidden = false;
  document.getElementById("logout").hidden = false;
  refresh();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  document.getElementById("login").hidden = false;
  document.getElementById("dashboard").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("login-error").textContent = typeof message === "string" ? message : "";
}

// --- confirmation -------------------------------------------------------------------------

function confirmAction(message) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-message").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

async function act(message, path, options) {
  if (!(await confirmAction(message))) return;
  try {
    await api(path, options);
    setStatus(`done: ${message}`);
  } catch (error) {
    setStatus(`refused: ${error.message}`, true);
  }
  editing = null;
  refresh();
}

function setStatus(text, isError = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

// --- rendering ----------------------------------------------------------------------------

function modeLabel(route) {
  const mode = route.mode || "monolith";
  const text = mode === "canary" ? `canary ${route.percent ?? 0}%` : mode;
  return el("span", { class: `mode mode-${mode}`, dataset: { mode } }, text);
}

function split(traffic, name, defaultUpstream) {
  const row = traffic.routes?.[name];
  if (!row || !row.total) return el("span", { class: "muted" }, "no traffic yet");
  const share = row[`${defaultUpstream}_share`] ?? 0;
  const parts = Object.entries(row.by_upstream).map(([up, n]) => `${up}: ${n}`);
  return el(
    "div",
    { class: "split", dataset: { route: name } },
    el("span", {}, parts.join(" · ")),
    el("div", { class: "bar", title: `${pct(1 - share)} off ${defaultUpstream}` },
      el("span", { style: `width:${((1 - share) * 100).toFixed(1)}%` })),
  );
}

function lifecycleCell(status) {
  if (!status) return el("span", { class: "muted" }, "–");
  const ev = status.evidence;
  return el(
    "div",
    {},
    el("div", {}, `${status.stage} → ${status.next_stage || "–"} (auto ${status.auto ? "on" : "off"})`),
    el("div", { class: "muted" },
      `n=${ev.requests} err=${pct(ev.error_rate)} mismatch=${pct(ev.mismatch_rate)} ` +
      `p99=${ev.p99_ms == null ? "–" : Math.round(ev.p99_ms) + "ms"}`),
    el("div", { class: status.verdict === "rollback" ? "error" : "muted" },
      `${status.verdict}: ${status.reasons.join("; ") || "gates hold"}`),
  );
}

function changeCell(route, status) {
  const name = route.name;
  const select = el("select", { name: "mode", "aria-label": `mode of ${name}` },
    ...["monolith", "shadow", "canary", "extracted"].map((m) =>
      el("option", { value: m, selected: (route.mode || "monolith") === m }, m)));
  const percent = el("input", {
    name: "percent", type: "number", min: 0, max: 100, step: 1,
    value: route.percent ?? "", "aria-label": `canary percent of ${name}`,
  });
  const hold = () => { editing = name; };
  select.addEventListener("focus", hold);
  percent.addEventListener("focus", hold);
  const apply = el("button", {
    type: "button", class: "apply",
    onclick: () => {
      const changes = { mode: select.value };
      if (select.value === "canary") changes.percent = Number(percent.value || 0);
      const target = select.value === "canary" ? `canary ${changes.percent}%` : select.value;
      act(`Change route ${name} from ${route.mode || "monolith"} to ${target}?`,
        `/_strangler/routes/${encodeURIComponent(name)}`,
        { method: "PATCH", body: JSON.stringify(changes) });
    },
  }, "Apply");
  const buttons = [select, percent, apply];
  if (status && status.next_stage) {
    buttons.push(el("button", {
      type: "button", class: "promote", disabled: !status.promotable && status.stage !== "monolith",
      title: status.reasons.join("; "),
      onclick: () => act(`Promote ${name} from ${status.stage} to ${status.next_stage}?`,
        `/_strangler/lifecycle/${encodeURIComponent(name)}/promote`, { method: "POST", body: "{}" }),
    }, "Promote"));
  }
  if (status && !["monolith", "retired"].includes(status.stage)) {
    buttons.push(el("button", {
      type: "button", class: "rollback",
      onclick: () => act(`Roll ${name} back to the monolith?`,
        `/_strangler/lifecycle/${encodeURIComponent(name)}/rollback`, { method: "POST", body: "{}" }),
    }, "Roll back"));
  }
  return el("td", { class: "change" }, ...buttons);
}

function renderRoutes(doc, traffic, lifecycle) {
  document.getElementById("routes-source").textContent = doc.source;
  document.getElementById("routes-error").textContent = doc.last_error || "";
  const statuses = Object.fromEntries((lifecycle.routes || []).map((s) => [s.route, s]));
  const body = document.querySelector("#routes tbody");
  const rows = doc.routes.map((route) => {
    const current = body.querySelector(`tr[data-route="${CSS.escape(route.name)}"]`);
    const status = statuses[route.name];
    const keep = editing === route.name && current ? current.querySelector("td.change") : null;
    return el("tr", { dataset: { route: route.name } },
      el("td", {}, route.name),
      el("td", {}, route.prefix || route.pattern || ""),
      el("td", {}, (route.methods || ["*"]).join(",")),
      el("td", { class: "mode-cell" }, modeLabel(route)),
      el("td", {}, route.upstream || "–"),
      el("td", {}, route.fallback || "–"),
      el("td", { class: "traffic" }, split(traffic, route.name, doc.default_upstream)),
      el("td", { class: "lifecycle" }, lifecycleCell(status)),
      keep || changeCell(route, status));
  });
  body.replaceChildren(...rows);
}

function renderBreakers(breakers) {
  fill("breakers", Object.entries(breakers).map(([name, b]) => el("tr", { dataset: { upstream: name } },
    el("td", {}, name),
    el("td", { class: `state-${b.state}` }, b.state),
    el("td", {}, b.fail_counter),
    el("td", {}, b.retry_after ?? "–"),
    el("td", {}, b.instances.map((i) => `${i.url}${i.healthy ? "" : " (unhealthy)"}`).join(", ")))));
}

function renderShadow(shadow) {
  fill("shadow", Object.entries(shadow.comparisons).map(([route, c]) => {
    const compared = (c.match || 0) + (c.mismatch || 0) + (c.error || 0);
    const rate = compared ? ((c.mismatch || 0) + (c.error || 0)) / compared : null;
    return el("tr", { dataset: { route } }, el("td", {}, route), el("td", {}, c.match || 0),
      el("td", {}, c.mismatch || 0), el("td", {}, c.error || 0), el("td", {}, c.dropped || 0),
      el("td", {}, pct(rate)));
  }));
  const pretty = (side) => {
    if (!side) return "";
    try { return JSON.stringify(JSON.parse(side.body), null, 1); } catch { return side.body; }
  };
  document.getElementById("diffs").replaceChildren(...shadow.recent_differences.slice(0, 5).map((d) =>
    el("div", { class: "diff" },
      el("h4", {}, `${d.route}: ${d.method} ${d.target} — ${d.differences.join("; ")}`),
      el("div", {}, el("strong", {}, `primary ${d.primary ? d.primary.status : ""}`), el("pre", {}, pretty(d.primary))),
      el("div", {}, el("strong", {}, `candidate ${d.candidate ? d.candidate.status : ""}`), el("pre", {}, pretty(d.candidate))))));
}

function renderHistory(lifecycle) {
  fill("history", (lifecycle.history || []).slice(0, 30).map((h) => el("tr", { dataset: { route: h.route, action: h.action } },
    el("td", {}, new Date(h.at * 1000).toLocaleTimeString()),
    el("td", {}, h.route),
    el("td", { class: h.action === "rollback" ? "error" : "" }, h.action + (h.forced ? " (forced)" : "")),
    el("td", {}, `${h.from} → ${h.to}`),
    el("td", {}, h.by),
    el("td", {}, h.evidence ? `n=${h.evidence.requests} err=${pct(h.evidence.error_rate)} mismatch=${pct(h.evidence.mismatch_rate)}` : "–"),
    el("td", {}, (h.reasons || []).join("; ")))));
}

function renderOutbox(outbox) {
  fill("outbox", Object.entries(outbox.services).map(([name, s]) => el("tr", { dataset: { service: name } },
    el("td", {}, name),
    el("td", {}, s.error ? el("span", { class: "error" }, s.error) : (s.pending ?? "not exported")),
    el("td", {}, s.oldest_age_seconds == null ? "–" : `${s.oldest_age_seconds.toFixed(1)} s`),
    el("td", { class: "muted" }, s.url))));
}

function renderReconcile(reconcile) {
  fill("reconcile", Object.entries(reconcile.services).flatMap(([name, s]) => s.error
    ? [el("tr", { dataset: { service: name } }, el("td", {}, name), el("td", {}, "–"), el("td", {}, "–"),
        el("td", {}, el("span", { class: "error" }, s.error)))]
    : Object.entries(s.entities).map(([entity, e]) => el("tr", { dataset: { service: name, entity } },
        el("td", {}, name),
        el("td", {}, entity),
        el("td", {}, `${e.owner} → ${e.mirror}`),
        el("td", { class: e.drift ? "drift error" : "drift" }, e.drift ? `${e.drift} rows` : "none")))));
}

// --- plots: inline SVG over /_strangler/series (no library) --------------------------------
// Every mark carries data-* (side, at, value) and a <title>; sides differ by line dash and
// marker shape as well as colour, so a plot reads without colour.

const SVG_NS = "http://www.w3.org/2000/svg";
const W = 320, H = 110, LEFT = 44, RIGHT = 8, TOP = 8, BOTTOM = 16;
let plotSeq = 0;

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.entries(value).forEach(([k, v]) => node.setAttribute(`data-${k}`, v));
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const clock = (at) => new Date(at * 1000).toLocaleTimeString();
const tip = (text) => svgEl("title", {}, text);

function xScale(from, to) {
  const span = Math.max(to - from, 1e-9);
  return (at) => LEFT + ((at - from) / span) * (W - LEFT - RIGHT);
}

function yScale(max) {
  return (v) => H - BOTTOM - (v / (max || 1)) * (H - TOP - BOTTOM);
}

// A figure holding one SVG chart with its accessible name and description.
function figure(kind, dataset, title, description, marks, caption) {
  const id = `plot-${++plotSeq}`;
  return el("figure", { class: `plot plot-${kind}` },
    svgEl("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`,
      class: "chart", dataset: { chart: kind, ...dataset },
    },
      svgEl("title", { id: `${id}-t` }, title),
      svgEl("desc", { id: `${id}-d` }, description),
      svgEl("line", { class: "axis", x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM }),
      svgEl("line", { class: "axis", x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM }),
      marks),
    el("figcaption", {}, caption));
}

function axisLabels(top, from, to) {
  return [
    svgEl("text", { class: "tick", x: LEFT - 4, y: TOP + 8, "text-anchor": "end" }, top),
    svgEl("text", { class: "tick", x: LEFT - 4, y: H - BOTTOM, "text-anchor": "end" }, "0"),
    svgEl("text", { class: "tick", x: LEFT, y: H - 2 }, clock(from)),
    svgEl("text", { class: "tick", x: W - RIGHT, y: H - 2, "text-anchor": "end" }, clock(to)),
  ];
}

function sideOrder(route, defaultUpstream) {
  const sides = new Set([defaultUpstream, route.candidate, ...Object.keys(route.totals)]);
  return [...sides].filter((s) => s && route.totals[s]);
}

// 100% stacked columns: each sample's requests split by the side that answered.
function splitChart(name, route, doc, sides) {
  const x = xScale(doc.from, doc.to);
  const y = yScale(1);
  const width = Math.max(2, (W - LEFT - RIGHT) / Math.max(doc.samples - 1, 1) - 1);
  const hatch = `hatch-${++plotSeq}`;  // the candidate's columns are hatched, not only coloured
  const marks = [svgEl("defs", {}, svgEl("pattern", { id: hatch, patternUnits: "userSpaceOnUse", width: 4, height: 4 },
    svgEl("rect", { width: 4, height: 4, fill: "#ffe0b2" }),
    svgEl("path", { d: "M0,4 L4,0", stroke: "#e65100", "stroke-width": 1.2 })))];
  for (const point of route.points) {
    const total = sides.reduce((n, s) => n + (point.sides[s]?.requests || 0), 0);
    if (!total) continue;
    let below = 0;
    sides.forEach((side, i) => {
      const n = point.sides[side]?.requests || 0;
      if (!n) return;
      const share = n / total;
      marks.push(svgEl("rect", {
        class: `side side-${i}`, style: i === 1 ? `fill:url(#${hatch})` : null,
        x: x(point.at) - width, width, y: y(below + share),
        height: y(below) - y(below + share),
        dataset: { side, at: point.at, requests: n, share: share.toFixed(4) },
      }, tip(`${clock(point.at)}: ${side} answered ${n} of ${total} (${pct(share)})`)));
      below += share;
    });
  }
  const totals = sides.map((s) => `${s}: ${route.totals[s].requests}`).join(" · ");
  return figure("split", { route: name }, `Traffic split of ${name} over time`,
    `Share of each sample's requests answered by ${sides.join(" and ")}; ${totals}.`,
    [...axisLabels("100%", doc.from, doc.to), ...marks],
    legend(sides, "Traffic split (stacked): ", totals));
}

// One line per side (dashes and markers differ), a mark per sample that had a value.
function lineChart(kind, name, title, lines, doc, format) {
  const values = lines.flatMap((l) => l.points.map((p) => p.value));
  const max = Math.max(...values, 0) || 1;
  const x = xScale(doc.from, doc.to);
  const y = yScale(max);
  const marks = lines.flatMap((line, i) => {
    if (!line.points.length) return [];
    const d = line.points.map((p, j) => `${j ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join("");
    return [
      svgEl("path", { class: `line side-${i}`, d, dataset: { side: line.side } }),
      ...line.points.map((p) => marker(i, x(p.at), y(p.value),
        { side: line.side, at: p.at, value: p.value, ...(p.data || {}) },
        `${clock(p.at)}: ${line.side} ${format(p.value)}`)),
    ];
  });
  const latest = lines.map((l) => `${l.side}: ${l.points.length ? format(l.points.at(-1).value) : "–"}`).join(" · ");
  return figure(kind, { route: name }, title,
    `${title}; latest ${latest}; highest ${format(max)}.`,
    [...axisLabels(format(max), doc.from, doc.to), ...marks],
    legend(lines.map((l) => l.side), `${title.split(" of ")[0]}: `, `latest ${latest}`));
}

function marker(i, cx, cy, dataset, text) {
  const shape = i % 2 === 0
    ? svgEl("circle", { cx, cy, r: 2.5 })
    : svgEl("rect", { x: cx - 2.5, y: cy - 2.5, width: 5, height: 5 });
  shape.setAttribute("class", `point side-${i}`);
  Object.entries(dataset).forEach(([k, v]) => shape.setAttribute(`data-${k}`, v));
  shape.append(tip(text));
  return shape;
}

function legend(names, prefix, after) {
  return el("span", {}, prefix, ...names.map((n, i) =>
    el("span", { class: "key" }, el("span", { class: `swatch side-${i}`, "aria-hidden": "true" }), n)),
    after ? ` — ${after}` : "");
}

// Breaker state over time: a band of segments, labelled with the state's name where not closed.
function breakerBand(upstream, states, doc) {
  if (!states || !states.length) return null;
  const x = xScale(doc.from, doc.to);
  const segments = states.map((s, i) => {
    const end = i + 1 < states.length ? states[i + 1].at : doc.to;
    const x0 = x(s.at), x1 = Math.max(x(end), x0 + 2);
    return svgEl("g", { class: `breaker breaker-${s.state}`, dataset: { state: s.state, at: s.at } },
      svgEl("rect", { x: x0, y: 2, width: x1 - x0, height: 14 }),
      s.state !== "closed" && x1 - x0 > 24
        ? svgEl("text", { x: x0 + 2, y: 13 }, s.state) : null,
      tip(`${clock(s.at)}: breaker of ${upstream} ${s.state}`));
  });
  const now = states.at(-1).state;
  const id = `plot-${++plotSeq}`;
  return el("div", { class: "band", dataset: { upstream } },
    el("span", { class: `badge state-${now}` }, `${upstream} breaker: ${now}`),
    svgEl("svg", { viewBox: `0 0 ${W} 18`, role: "img", "aria-labelledby": id, class: "chart band-chart",
      dataset: { chart: "breaker", upstream } },
    svgEl("title", { id }, `Breaker state of ${upstream} over time, now ${now}`), segments));
}

function sideLines(route, sides, field) {
  return sides.map((side) => ({
    side,
    points: route.points.filter((p) => p.sides[side] && p.sides[side][field] !== null)
      .map((p) => ({
        at: p.at, value: p.sides[side][field],
        data: { requests: p.sides[side].requests, errors: p.sides[side].errors },
      })),
  }));
}

function renderRoutePlots(doc) {
  const holder = document.getElementById("route-plots");
  const note = document.getElementById("series-note");
  if (doc.samples < 2) {
    note.textContent = `Collecting samples (one every ${doc.step_seconds} s)…`;
    holder.replaceChildren();
    return;
  }
  note.textContent = `${doc.samples} samples, one every ${doc.step_seconds} s, from ${clock(doc.from)} to ${clock(doc.to)}. ` +
    "Routes without traffic in this window are not drawn.";
  const ms = (v) => `${Math.round(v)} ms`;
  const figures = Object.entries(doc.routes)
    .filter(([, route]) => Object.keys(route.totals).length)
    .map(([name, route]) => {
      const sides = sideOrder(route, doc.default_upstream);
      const compared = route.points.filter((p) => p.compared);
      return el("article", { class: "route-plots", dataset: { route: name } },
        el("h3", {}, name === "-" ? `no route (the ${doc.default_upstream})` : name,
          route.candidate ? el("span", { class: "muted" }, ` (candidate ${route.candidate})`) : ""),
        el("div", { class: "plots" },
          splitChart(name, route, doc, sides),
          lineChart("errors", name, `Error rate (5xx) of ${name} per side`, sideLines(route, sides, "error_rate"), doc, pct),
          lineChart("p99", name, `p99 latency of ${name} per side`, sideLines(route, sides, "p99_ms"), doc, ms),
          compared.length
            ? lineChart("mismatch", name, `Shadow mismatch rate of ${name}`,
              [{ side: "shadow", points: compared.map((p) => ({
                at: p.at, value: p.mismatch_rate, data: { compared: p.compared, mismatches: p.mismatches },
              })) }], doc, pct)
            : null),
        route.candidate ? breakerBand(route.candidate, doc.breakers[route.candidate], doc) : null);
    });
  holder.replaceChildren(...figures);
  document.getElementById("breaker-bands").replaceChildren(
    ...Object.entries(doc.breakers).map(([up, states]) => breakerBand(up, states, doc)));
}

function renderOutboxPlot(doc) {
  const holder = document.getElementById("outbox-plot");
  const names = Object.keys(doc.outbox);
  if (doc.samples < 1 || !names.length) { holder.replaceChildren(); return; }
  const lines = names.map((service) => ({
    side: service,
    points: doc.outbox[service].filter((p) => typeof p.pending === "number")
      .map((p) => ({ at: p.at, value: p.pending })),
  }));
  const chart = lineChart("outbox", "", "Outbox pending messages per service", lines,
    { ...doc, to: Math.max(doc.to, doc.from + 1) }, (v) => `${v}`);
  chart.querySelectorAll("path.line").forEach((path) => {  // name each line where it ends
    const last = path.getAttribute("d").split(/[ML]/).at(-1).split(",");
    path.after(svgEl("text", { class: "end-label", x: Number(last[0]) - 2, y: Number(last[1]) - 3, "text-anchor": "end" }, path.dataset.side));
  });
  holder.replaceChildren(chart);
}

let seriesAt = 0;
let seriesEvery = 0;

function renderSeries(doc) {
  seriesEvery = Math.max(POLL_MS, doc.step_seconds * 1000) - 100;
  renderRoutePlots(doc);
  renderOutboxPlot(doc);
  document.body.dataset.seriesSamples = String(doc.samples);
}

async function refresh() {
  clearTimeout(timer);
  if (!token()) return;
  try {
    const [routes, traffic, breakers, shadow, lifecycle] = await Promise.all([
      api("/_strangler/routes"), api("/_strangler/traffic"), api("/_strangler/breakers"),
      api("/_strangler/shadow?limit=20"), api("/_strangler/lifecycle?limit=30"),
    ]);
    renderRoutes(routes, traffic, lifecycle);
    renderBreakers(breakers);
    renderShadow(shadow);
    renderHistory(lifecycle);
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    if (!document.getElementById("status").classList.contains("error")) {
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    }
    api("/_strangler/outbox").then(renderOutbox).catch(() => {});
    api("/_strangler/reconcile").then(renderReconcile).catch(() => {});
    if (Date.now() - seriesAt >= seriesEvery) {  // new points come once a sample step
      seriesAt = Date.now();
      api("/_strangler/series?points=120").then(renderSeries).catch(() => {});
    }
  } catch (error) {
    if (error.message !== "unauthorised") setStatus(`refresh failed: ${error.message}`, true);
  }
  if (token()) timer = setTimeout(refresh, POLL_MS);
}

document.getElementById("login-form").addEventListener("submit", login);
document.getElementById("token-form").addEventListener("submit", useToken);
document.getElementById("logout").addEventListener("click", () => logout());
document.addEventListener("click", (event) => {
  // leaving a route's controls lets the next refresh redraw them
  if (editing && !event.target.closest(`tr[data-route="${CSS.escape(editing)}"]`)) editing = null;
});
if (token()) start(token());
