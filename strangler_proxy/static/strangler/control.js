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
