"use strict";
/*
 * wascc-py dashboard: the page at /ui of a host's admin endpoint (host/dashboard.py).
 *
 * The page holds no data of its own: after the operator pastes the admin token it reads the
 * feed at /ui/feed (server-sent events over fetch, since EventSource cannot send a token) and
 * draws what it says. Every value shown comes from signed modules or other hosts, so text is
 * only ever set with textContent and nodes are built one by one: no innerHTML, no inline
 * styles (the server's CSP forbids both anyway).
 */

const TOKEN_KEY = "wascc.token"; // sessionStorage: this tab only, gone when it closes
const MAX_EVENTS = 100;
const SPARK_SECONDS = 60; // the sparkline's window
const SERIES_SECONDS = 120; // rate points kept per actor
const RETRY_MAX_MS = 10000;
const SVG_NS = "http://www.w3.org/2000/svg";
const REFUSED =
  "The host refused the token (a restart of the host writes a new one). Paste the current token.";

const $ = (selector) => document.querySelector(selector);

const state = {
  token: "",
  feed: null, // AbortController of the open feed
  retries: 0, // reconnects since the last hello
  retryTimer: 0,
  tick: 0, // the uptime clock's interval
  host: null, // hello.host
  hostAt: 0, // performance.now() when host.uptime_s was received
  inventory: null,
  lattice: null,
  names: new Map(), // actor key -> name; kept after a stop so that events still name it
  series: new Map(), // actor key -> [[unix s, calls/s, errors/s], ...]
  latest: new Map(), // actor key -> [calls/s, errors/s, instances, busy]
  now: 0, // unix time of the last rate sample
  rows: new Map(), // actor key -> the parts of its table row
  acting: false, // a stop or an update is under way: one at a time
};

// DOM helpers ----------------------------------------------------------------------------

/** An HTML element: props are text, class, title, data (dataset) or plain attributes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name === "data") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** An SVG element with attributes. */
function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

function chip(text, extra = "", title = "") {
  return el("span", { class: ("chip " + extra).trim(), text, title: title || undefined });
}

// formatting -----------------------------------------------------------------------------

function short(id) {
  return id ? String(id).slice(0, 8) + "…" : "—";
}

function nameOf(key) {
  return state.names.get(key) || short(key);
}

/** Calls per second as "12.3/s": the number first, so that it reads and parses alike. */
function rate(value, unit = "/s") {
  const v = Number(value) || 0;
  if (v === 0 || v >= 100) return Math.round(v) + unit;
  return (v < 1 ? v.toFixed(2) : v.toFixed(1)) + unit;
}

/** "3m 12s", "5h 2m", "2d 7h": the two largest units. */
function duration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s % 60}s` : `${s}s`;
}

/** HH:MM:SS in the browser's time zone. */
function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toTimeString().slice(0, 8);
}

function revText(rev) {
  return rev === null || rev === undefined ? "—" : String(rev);
}

function labelChips(labels) {
  return Object.entries(labels || {}).map(([k, v]) => chip(`${k}=${v}`, "label"));
}

// requests -------------------------------------------------------------------------------

/** The error message of a failed answer: the host's JSON {error}, else its text. */
async function errorOf(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
  } catch (_) {
    // not JSON: aiohttp's own answers (413 and the like) are plain text
  }
  return text.trim() || response.statusText || "no answer";
}

/**
 * A request with the token. A 401 (the host restarted with a new token) logs out and
 * returns null; a network failure is shown in #answer and returns null too.
 */
async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + state.token, ...(options.headers || {}) };
  let response;
  try {
    response = await fetch(path, { ...options, headers, cache: "no-store" });
  } catch (err) {
    showAnswer(`Cannot reach the host: ${err.message}`, "error");
    return null;
  }
  if (response.status === 401) {
    logout(REFUSED);
    return null;
  }
  return response;
}

// login and logout -----------------------------------------------------------------------

function showLogin(message) {
  $("#login-error").textContent = message || "";
  $("#login").hidden = false;
  const input = $("#token");
  input.focus();
  input.select();
}

/** Checks a token with GET /inventory; on 200 the page starts, else the login says why. */
async function tryToken(token) {
  const button = $("#login-submit");
  button.disabled = true;
  $("#login-error").textContent = "";
  try {
    const response = await fetch("/inventory", {
      headers: { Authorization: "Bearer " + token },
      cache: "no-store",
    });
    if (response.ok) {
      start(token);
      return;
    }
    const message = await errorOf(response);
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(response.status === 401 ? message : `HTTP ${response.status}: ${message}`);
  } catch (err) {
    // a token with characters no header may hold lands here too (TypeError)
    showLogin(`Cannot reach the host: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

function start(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token").value = "";
  $("#login").hidden = true;
  $("#login-error").textContent = "";
  $("#logout").hidden = false;
  $("#app").hidden = false;
  openFeed();
}

function logout(message) {
  closeFeed();
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  const dialog = $("#confirm");
  if (dialog.open) dialog.close("no");
  clearData();
  showLogin(message || "");
}

/** Removes every node that holds host data, and forgets the data. */
function clearData() {
  clearInterval(state.tick);
  Object.assign(state, { host: null, inventory: null, lattice: null, now: 0, acting: false });
  for (const map of [state.names, state.series, state.latest, state.rows]) map.clear();
  const filled = [
    "#host-id", "#host-version", "#host-uptime", "#host-labels", "#host-lattice", "#status",
    "#answer", "#actors tbody", "#graph", "#bindings-list", "#events", "#lattice tbody",
    "#lattice-note", "#lattice-error", "#apps tbody", "#apps-note",
  ];
  for (const selector of filled) $(selector).replaceChildren();
  $("#host-id").removeAttribute("title");
  $("#answer").className = "answer";
  $("#status").className = "status";
  $("#update-form").reset();
  for (const id of ["#host-info", "#logout", "#actors-empty", "#lattice-section", "#app"]) {
    $(id).hidden = true;
  }
  $("#app").classList.remove("stale");
}

// the feed -------------------------------------------------------------------------------

function setStatus(text, kind, detail) {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + (kind || "");
  status.title = detail || "";
}

function openFeed() {
  clearTimeout(state.retryTimer);
  const controller = new AbortController();
  state.feed = controller;
  if (!state.retries) setStatus("connecting…", "wait");
  readFeed(controller);
}

function closeFeed() {
  clearTimeout(state.retryTimer);
  if (state.feed) state.feed.abort();
  state.feed = null;
  state.retries = 0;
}

async function readFeed(controller) {
  let why = "the feed ended";
  try {
    const response = await fetch("/ui/feed", {
      headers: { Authorization: "Bearer " + state.token },
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status === 401) {
      logout(REFUSED);
      return;
    }
    if (!response.ok || !response.body) {
      throw new Error(`HTTP ${response.status}: ${await errorOf(response)}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (state.feed === controller) dispatch(block);
      }
    }
  } catch (err) {
    why = err.message || String(err);
  }
  if (controller.signal.aborted || state.feed !== controller) return; // closed on purpose
  // Back off 1 s, 2 s, 4 s… up to 10 s; the next hello replaces everything shown.
  const delay = Math.min(1000 * 2 ** state.retries, RETRY_MAX_MS);
  state.retries += 1;
  setStatus("reconnecting…", "down", `${why}; next try in ${delay / 1000} s`);
  $("#app").classList.add("stale");
  state.retryTimer = setTimeout(openFeed, delay);
}

const handlers = {
  hello: onHello, rates: onRates, event: onEvent, inventory: setInventory, lattice: setLattice,
};

/** One server-sent event: "event: KIND" and "data: JSON" lines. */
function dispatch(block) {
  let kind = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // a comment or keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  const handler = handlers[kind];
  if (!handler || !data.length) return;
  try {
    handler(JSON.parse(data.join("\n")));
  } catch (err) {
    // One message the page cannot draw must not end the feed.
    console.error(`dashboard: cannot show the ${kind} message`, err);
  }
}

function onHello(hello) {
  state.series.clear(); // names stay: events of stopped actors still need them
  state.latest.clear();
  state.host = hello.host;
  state.hostAt = performance.now();
  renderHost();
  state.now = hello.host.started + hello.host.uptime_s; // the host's clock, not the browser's
  for (const [key, points] of Object.entries((hello.rates && hello.rates.series) || {})) {
    state.series.set(key, points);
    const last = points[points.length - 1];
    if (last) {
      state.now = Math.max(state.now, last[0]);
      state.latest.set(key, [last[1], last[2], 0, 0]);
    }
  }
  for (const [key, [instances, busy]] of Object.entries(hello.counts || {})) {
    const [calls, errors] = state.latest.get(key) || [0, 0];
    state.latest.set(key, [calls, errors, instances, busy]);
  }
  setInventory(hello.inventory);
  renderEvents(hello.events || []);
  setLattice(hello.lattice);
  state.retries = 0;
  setStatus("live", "live", "following the host's feed");
  $("#app").classList.remove("stale");
}

function onRates(message) {
  state.now = message.t;
  const oldest = message.t - SERIES_SECONDS;
  for (const [key, [calls, errors, instances, busy]] of Object.entries(message.actors || {})) {
    state.latest.set(key, [calls, errors, instances, busy]);
    const points = state.series.get(key) || [];
    points.push([message.t, calls, errors]);
    while (points.length && points[0][0] < oldest) points.shift();
    state.series.set(key, points);
  }
  for (const key of state.rows.keys()) updateLive(key);
}

function onEvent(event) {
  remember(event);
  const list = $("#events");
  list.prepend(eventItem(event));
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// the header -----------------------------------------------------------------------------

function renderHost() {
  const host = state.host;
  const id = $("#host-id");
  id.textContent = host.id || "—";
  id.title = host.id || "";
  $("#host-version").textContent = host.version || "—";
  $("#host-labels").replaceChildren(...labelChips(host.labels));
  $("#host-lattice").textContent = host.lattice
    ? `lattice: ${host.lattice.url} (${host.lattice.connected ? "connected" : "disconnected"})`
    : "standalone";
  $("#host-info").hidden = false;
  $("#lattice-section").hidden = !host.lattice;
  tickUptime();
  clearInterval(state.tick);
  state.tick = setInterval(tickUptime, 1000);
}

/** The host's uptime counted on from the hello, so that it ticks between messages. */
function tickUptime() {
  if (!state.host) return;
  const elapsed = (performance.now() - state.hostAt) / 1000;
  $("#host-uptime").textContent = duration(state.host.uptime_s + elapsed);
}

// actors ---------------------------------------------------------------------------------

function setInventory(inventory) {
  state.inventory = inventory;
  for (const actor of inventory.actors || []) {
    const claims = actor.claims || {};
    state.names.set(actor.key, actor.name || claims.name || short(actor.key));
  }
  renderActors();
  renderGraph();
}

/** Updates the table in place (rows keyed by actor), so that focus survives a refresh. */
function renderActors() {
  const tbody = $("#actors tbody");
  const actors = state.inventory.actors || [];
  const keep = new Set(actors.map((a) => a.key));
  for (const [key, parts] of state.rows) {
    if (!keep.has(key)) removeRow(key, parts);
  }
  actors.forEach((actor, index) => {
    let parts = state.rows.get(actor.key);
    if (!parts) {
      parts = actorRow(actor.key);
      state.rows.set(actor.key, parts);
    }
    fillRow(parts, actor);
    const here = tbody.children[index] || null;
    if (here !== parts.tr) tbody.insertBefore(parts.tr, here); // moved only when out of place
    updateLive(actor.key);
  });
  $("#actors-empty").hidden = actors.length > 0;
}

/** Drops a row; if focus was in it, hands focus to the next row's button or the heading. */
function removeRow(key, parts) {
  const hadFocus = parts.tr.contains(document.activeElement);
  const next = parts.tr.nextElementSibling || parts.tr.previousElementSibling;
  parts.tr.remove();
  state.rows.delete(key);
  if (hadFocus) (next ? next.querySelector("button.stop") : $("#actors-title")).focus();
}

const CELLS = [
  "name", "key", "issuer", "rev", "caps", "health", "instances", "rate", "errors", "trend",
  "actions",
];
const NUMERIC = new Set(["rev", "rate", "errors"]);

/** One row: its cells (classes as named in CELLS), the sparkline (svg.chart, role img, in
 * the trend cell: the cell keeps its table role) and the Stop button. */
function actorRow(key) {
  const parts = { tr: el("tr", { data: { actor: key } }) };
  for (const cell of CELLS) {
    parts[cell] = el("td", { class: NUMERIC.has(cell) ? `${cell} num` : cell });
    parts.tr.append(parts[cell]);
  }
  parts.spark = sparkline();
  parts.trend.append(parts.spark.svg);
  parts.stop = el("button", { type: "button", class: "stop danger small", text: "Stop" });
  parts.stop.addEventListener("click", () => stopActor(key, parts.stop));
  parts.actions.append(parts.stop);
  return parts;
}

/** A monospace id: full text (selectable at once), cut with an ellipsis by the stylesheet. */
function mono(text) {
  return el("span", { class: "mono trunc", title: text, text });
}

function fillRow(parts, actor) {
  const claims = actor.claims || {};
  const name = state.names.get(actor.key);
  parts.name.replaceChildren(el("span", { class: "trunc wide", title: name, text: name }));
  parts.key.replaceChildren(mono(actor.key));
  parts.issuer.replaceChildren(claims.issuer ? mono(claims.issuer) : "—");
  parts.rev.textContent = revText(claims.rev);
  parts.caps.replaceChildren(...(claims.caps || []).map((cap) => chip(cap, "cap")));
  parts.health.replaceChildren(healthChip(actor.health || {}));
  parts.stop.setAttribute("aria-label", `Stop ${name}`);
  const latest = state.latest.get(actor.key) || [0, 0];
  state.latest.set(actor.key, [latest[0], latest[1], actor.instances, actor.busy]);
}

/** The last health check's verdict (a penalty, which refuses calls, shows first); the
 * message, when there is one, is the chip's title. */
function healthChip(health) {
  if (health.penalized) return chip("penalized", "health bad");
  const check = health.check;
  if (!check) return chip("not checked", "health off");
  if (check.healthy === null) return chip("no checks", "health off", check.message);
  const text = check.healthy ? "healthy" : "unhealthy";
  return chip(text, `health ${check.healthy ? "good" : "bad"}`, check.message);
}

/** The cells that change every second: instances, rates, sparkline. */
function updateLive(key) {
  const parts = state.rows.get(key);
  if (!parts) return;
  const [calls, errors, instances, busy] = state.latest.get(key) || [0, 0, 0, 0];
  setText(parts.instances, `${instances} / ${busy} busy`);
  parts.instances.classList.toggle("idle", !instances);
  setText(parts.rate, rate(calls));
  setText(parts.errors, rate(errors));
  parts.errors.classList.toggle("bad", errors > 0);
  drawSparkline(parts.spark, state.series.get(key) || []);
  const label = `${nameOf(key)}: ${rate(calls, "")} calls/s, ${rate(errors, "")} failed/s`;
  parts.spark.svg.setAttribute("aria-label", label);
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// sparklines -----------------------------------------------------------------------------

const SPARK = { w: 120, h: 28, pad: 2 };

function sparkline() {
  const area = svgEl("path", { class: "spark-area" });
  const calls = svgEl("path", { class: "spark-calls" });
  const errors = svgEl("path", { class: "spark-errors" });
  const y = SPARK.h - 0.5;
  const base = svgEl("line", { class: "spark-base", x1: 0, x2: SPARK.w, y1: y, y2: y });
  const box = `0 0 ${SPARK.w} ${SPARK.h}`;
  const svg = svgEl("svg", { class: "spark chart", viewBox: box, role: "img" });
  svg.append(base, area, calls, errors);
  return { svg, area, calls, errors };
}

/** Calls and failed calls over the last minute, both on the calls' scale. */
function drawSparkline(spark, points) {
  const since = state.now - SPARK_SECONDS;
  const shown = points.filter((p) => p[0] >= since);
  const any = (index) => shown.length > 1 && shown.some((p) => p[index] > 0);
  // A minute without calls draws only the base line, not a stub of zeros.
  if (!any(1)) {
    for (const path of [spark.area, spark.calls, spark.errors]) path.setAttribute("d", "");
    return;
  }
  const top = Math.max(1, ...shown.map((p) => Math.max(p[1], p[2])));
  const x = (t) => (((t - since) / SPARK_SECONDS) * SPARK.w).toFixed(1);
  const y = (v) => (SPARK.h - SPARK.pad - (v / top) * (SPARK.h - 2 * SPARK.pad)).toFixed(1);
  const line = (index) => shown.map((p, i) => `${i ? "L" : "M"}${x(p[0])},${y(p[index])}`).join("");
  const calls = line(1);
  const first = x(shown[0][0]);
  const last = x(shown[shown.length - 1][0]);
  spark.calls.setAttribute("d", calls);
  spark.area.setAttribute("d", `${calls}L${last},${SPARK.h}L${first},${SPARK.h}Z`);
  spark.errors.setAttribute("d", any(2) ? line(2) : "");
}

// the bindings graph ---------------------------------------------------------------------

// Two geometries: on a phone the wide one would shrink its text below legibility.
const WIDE = { w: 520, nodeW: 172, providerX: 348, chars: 24, nodeH: 26, rowH: 36, top: 8 };
const NARROW = { ...WIDE, w: 340, nodeW: 134, providerX: 206, chars: 17 };
const narrowScreen = window.matchMedia("(max-width: 560px)");
let GRAPH = WIDE; // set by renderGraph

function providerId(contract, binding) {
  return `${contract}\u0000${binding}`;
}

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/**
 * Actors on the left, providers on the right, one curve per binding. Actors and providers
 * that are not on this host (a binding recorded from another host of the lattice) are
 * drawn dashed. Providers are ordered by the rows of their actors, which keeps curves from
 * crossing much.
 */
function renderGraph() {
  GRAPH = narrowScreen.matches ? NARROW : WIDE;
  const inventory = state.inventory;
  const bindings = inventory.bindings || [];
  const actors = (inventory.actors || []).map((a) => ({ key: a.key, local: true }));
  const known = new Set(actors.map((a) => a.key));
  for (const b of bindings) {
    if (!known.has(b.actor)) {
      known.add(b.actor);
      actors.push({ key: b.actor, local: false });
    }
  }
  const providers = new Map();
  const addProvider = (contract, binding, local) => {
    const id = providerId(contract, binding);
    if (!providers.has(id)) providers.set(id, { contract, binding, local, rows: [] });
    return providers.get(id);
  };
  for (const p of inventory.providers || []) addProvider(p.contract_id, p.binding, true);
  const rowOf = new Map(actors.map((a, i) => [a.key, i]));
  for (const b of bindings) {
    addProvider(b.contract_id, b.binding, false).rows.push(rowOf.get(b.actor));
  }
  const mean = (rows) => (rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : 1e9);
  const column = [...providers.values()].sort(
    (a, b) => mean(a.rows) - mean(b.rows) || a.contract.localeCompare(b.contract),
  );

  const rows = Math.max(actors.length, column.length, 1);
  const height = GRAPH.top * 2 + (rows - 1) * GRAPH.rowH + GRAPH.nodeH;
  // The shorter column is centred against the longer one.
  const offset = (count) => GRAPH.top + ((rows - count) * GRAPH.rowH) / 2;
  const actorY = new Map(actors.map((a, i) => [a.key, offset(actors.length) + i * GRAPH.rowH]));
  const providerY = new Map(column.map((p, i) => [
    providerId(p.contract, p.binding), offset(column.length) + i * GRAPH.rowH,
  ]));

  const graph = $("#graph");
  graph.setAttribute("viewBox", `0 0 ${GRAPH.w} ${height}`);
  const edges = svgEl("g", { class: "edges" });
  const placed = [];
  for (const b of bindings) {
    const y0 = actorY.get(b.actor) + GRAPH.nodeH / 2;
    const y1 = providerY.get(providerId(b.contract_id, b.binding)) + GRAPH.nodeH / 2;
    edges.append(edge(b, y0, y1, placed));
  }
  const nodes = svgEl("g", { class: "nodes" });
  for (const a of actors) nodes.append(actorNode(a, actorY.get(a.key), bindings));
  for (const p of column) {
    nodes.append(providerNode(p, providerY.get(providerId(p.contract, p.binding)), bindings));
  }
  graph.replaceChildren(edges, nodes);
  if (!actors.length && !column.length) {
    const where = { x: GRAPH.w / 2, y: height / 2 + 4, class: "graph-empty" };
    graph.append(svgEl("text", where, "nothing runs here"));
  }
  renderBindingList(bindings);
}

/** A point of the curve from (x0, y0) to (x1, y1) whose handles are level at mid-x. */
function curvePoint(x0, y0, x1, y1, t) {
  const mx = (x0 + x1) / 2;
  const u = 1 - t;
  return [
    u * u * u * x0 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x1,
    u * u * u * y0 + 3 * u * u * t * y0 + 3 * u * t * t * y1 + t * t * t * y1,
  ];
}

function edge(b, y0, y1, placed) {
  const x0 = GRAPH.nodeW;
  const x1 = GRAPH.providerX;
  const mx = (x0 + x1) / 2;
  const g = svgEl("g", {
    class: "edge" + (b.recorded ? " remote" : ""),
    "data-actor": b.actor,
    "data-contract": b.contract_id,
    "data-binding": b.binding,
  });
  g.append(
    svgEl("title", {}, `${nameOf(b.actor)} → ${b.contract_id} (${b.binding})`),
    svgEl("path", { d: `M${x0},${y0}C${mx},${y0} ${mx},${y1} ${x1},${y1}` }),
  );
  // Labels of curves that meet would sit on one another: try a few places along the curve.
  let at = curvePoint(x0, y0, x1, y1, 0.5);
  for (const t of [0.5, 0.36, 0.64, 0.26, 0.74]) {
    const p = curvePoint(x0, y0, x1, y1, t);
    if (!placed.some(([x, y]) => Math.abs(x - p[0]) < 52 && Math.abs(y - p[1]) < 11)) {
      at = p;
      break;
    }
  }
  placed.push(at);
  g.append(svgEl("text", { x: at[0].toFixed(1), y: (at[1] + 3.5).toFixed(1) }, b.binding));
  return g;
}

function node(kind, y, title, text, dashed, data) {
  const g = svgEl("g", {
    class: `node ${kind}` + (dashed ? " remote" : ""),
    tabindex: 0,
    transform: `translate(${kind === "actor" ? 0 : GRAPH.providerX},${y})`,
    ...data,
  });
  g.append(
    svgEl("title", {}, title),
    svgEl("rect", { width: GRAPH.nodeW, height: GRAPH.nodeH, rx: 5 }),
    svgEl("text", { x: 10, y: GRAPH.nodeH / 2 + 4 }, text),
  );
  return g;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function actorNode(actor, y, bindings) {
  const name = nameOf(actor.key);
  const count = bindings.filter((b) => b.actor === actor.key).length;
  const where = actor.local ? "" : ", on another host";
  const title = `actor ${name} (${actor.key})${where}: ${plural(count, "binding")}`;
  return node("actor", y, title, clip(name, GRAPH.chars), !actor.local, { "data-key": actor.key });
}

function providerNode(p, y, bindings) {
  const mine = (b) => b.contract_id === p.contract && b.binding === p.binding;
  const count = plural(bindings.filter(mine).length, "actor");
  const label = p.binding === "default" ? p.contract : `${p.contract} (${p.binding})`;
  const where = p.local ? "" : ", not on this host";
  const title = `provider ${p.contract} (binding ${p.binding})${where}: ${count} bound`;
  const data = { "data-contract": p.contract, "data-binding": p.binding };
  return node("provider", y, title, clip(label, GRAPH.chars), !p.local, data);
}

function renderBindingList(bindings) {
  const items = bindings.map((b) => el("li", {},
    el("span", { class: "b-actor", text: nameOf(b.actor) }),
    " → ",
    el("span", { class: "mono", text: b.contract_id }),
    ` (${b.binding})`,
    b.recorded ? el("span", { class: "muted", text: " · recorded from another host" }) : "",
  ));
  $("#bindings-list").replaceChildren(...items);
}

/** Focus or hover on a node lights its edges and dims the rest. */
function highlight(target) {
  const graph = $("#graph");
  const g = target && target.closest ? target.closest(".node") : null;
  graph.classList.toggle("focusing", Boolean(g));
  for (const e of graph.querySelectorAll(".edge")) {
    const mine = g && g.classList.contains("actor")
      ? e.dataset.actor === g.dataset.key
      : g && e.dataset.contract === g.dataset.contract && e.dataset.binding === g.dataset.binding;
    e.classList.toggle("lit", Boolean(mine));
  }
}

// events ---------------------------------------------------------------------------------

const BADGES = {
  actor_started: ["started", "good"],
  actor_stopped: ["stopped", "off"],
  actor_updating: ["updating", "info"],
  actor_update_complete: ["updated", "good"],
  actor_trapped: ["trapped", "warn"],
  call_alias_refused: ["refused", "warn"],
  actor_binding_created: ["bound", "good"],
  actor_binding_removed: ["unbound", "off"],
  provider_loaded: ["loaded", "good"],
  provider_removed: ["removed", "off"],
  host_started: ["host up", "good"],
  host_stopped: ["host down", "off"],
};

function healthBadge(data) {
  if (data.healthy === null) return ["no checks", "off"];
  return data.healthy ? ["healthy", "good"] : ["unhealthy", "warn"];
}

/** Keeps the names events carry, so that a later event about a stopped actor has one. */
function remember(event) {
  const data = event.data || {};
  if (data.public_key && data.name && !state.names.has(data.public_key)) {
    state.names.set(data.public_key, data.name);
  }
}

function sentence(event) {
  const d = event.data || {};
  const who = nameOf(d.public_key || d.actor);
  const provider = `${d.capability_id} (${d.binding_name || "default"})`;
  switch (event.type) {
    case "actor_started":
      return `${who} started` + (d.rev !== undefined && d.rev !== null ? ` (rev ${d.rev})` : "");
    case "actor_stopped":
      return `${who} stopped`;
    case "actor_updating":
      return `${who} is being updated`;
    case "actor_update_complete":
      return `${who} updated to rev ${revText(d.rev)}`;
    case "actor_trapped":
      return `${who} trapped${d.count > 1 ? ` ${d.count} times` : ""}: ${d.error}`;
    case "actor_health_changed":
      if (d.healthy === null) return `${who} does not answer health checks`;
      return `${who} is ${d.healthy ? "healthy" : "unhealthy"}` + (d.message ? `: ${d.message}` : "");
    case "call_alias_refused":
      return `${who} runs without the call alias ${d.call_alias}: ${d.why}`;
    case "actor_binding_created":
      return `${who} bound to ${provider}`;
    case "actor_binding_removed":
      return `${who} unbound from ${provider}`;
    case "provider_loaded":
      return `provider ${provider} loaded`;
    case "provider_removed":
      return `provider ${provider} removed`;
    case "host_started":
    case "host_stopped": {
      const labels = Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
      const verb = event.type === "host_started" ? "started" : "stopped";
      return `host ${short(event.host)} ${verb}` + (labels ? ` (${labels})` : "");
    }
    default:
      return `${event.type}: ${JSON.stringify(d)}`;
  }
}

function eventItem(event) {
  const [badge, tone] = event.type === "actor_health_changed"
    ? healthBadge(event.data || {})
    : BADGES[event.type] || [event.type.replace(/_/g, " "), "info"];
  let text = sentence(event);
  if (event.host && !event.type.startsWith("host_")) text += ` on host ${short(event.host)}`;
  const when = new Date(event.time * 1000);
  const time = el("time", { datetime: when.toISOString(), title: when.toLocaleString() });
  time.textContent = clock(event.time);
  const kind = `tone-${tone}` + (event.host ? " remote" : "");
  return el("li", { class: kind, data: { type: event.type } },
    time,
    el("span", { class: "badge", text: badge }),
    el("span", { class: "what", text }));
}

function renderEvents(events) {
  events.forEach(remember);
  const items = events.slice(-MAX_EVENTS).reverse().map(eventItem);
  $("#events").replaceChildren(...items);
}

// the lattice ----------------------------------------------------------------------------

function setLattice(view) {
  state.lattice = view;
  if (!state.host || !state.host.lattice) return;
  const tbody = $("#lattice tbody");
  renderApps(view);
  $("#lattice-note").textContent = view ? "" : "asking the lattice…";
  const error = view && view.error ? `The lattice did not answer: ${view.error}` : "";
  $("#lattice-error").textContent = error;
  if (!view) {
    tbody.replaceChildren();
    return;
  }
  const rows = (view.hosts || []).map((h) => {
    for (const a of h.actors || []) {
      if (a.key && a.name && !state.names.has(a.key)) state.names.set(a.key, a.name);
    }
    const self = h.id === state.host.id;
    const names = (h.actors || []).map((a) => a.name || short(a.key)).join(", ");
    const uptime = typeof h.uptime_s === "number" ? duration(h.uptime_s) : "—";
    return el("tr", { data: { host: h.id }, class: self ? "self" : null },
      el("td", { class: "id" },
        el("span", { class: "mono", title: h.id, text: short(h.id) }),
        self ? chip("this host", "self") : ""),
      el("td", { class: "labels" }, ...labelChips(h.labels)),
      el("td", { class: "uptime", text: uptime }),
      el("td", { class: "actors", text: names || "—" }));
  });
  tbody.replaceChildren(...rows);
}

/** The lattice's applications (`wascc apply`): version, replicas placed / wanted, state. */
function renderApps(view) {
  const apps = view && view.apps ? view.apps : [];
  let note = "";
  if (view && view.apps_error) note = `The application store did not answer: ${view.apps_error}`;
  else if (view && !view.apps) note = "no applications: this lattice has no application store";
  else if (view && !apps.length) note = "no applications in the lattice";
  $("#apps-note").textContent = note;
  $("#apps").hidden = !apps.length;
  const rows = apps.map((a) => {
    const version = a.version ? `${a.version} (version ${a.revision})` : `version ${a.revision}`;
    const failing = a.state.startsWith("error");
    return el("tr", { data: { app: a.name }, class: failing ? "failing" : null },
      el("td", { class: "name", text: a.name }),
      el("td", { class: "version", text: version }),
      el("td", { class: "replicas num", text: `${a.placed} / ${a.wanted}` }),
      el("td", { class: "state", text: a.state }));
  });
  $("#apps tbody").replaceChildren(...rows);
}

// actions --------------------------------------------------------------------------------

function showAnswer(text, kind) {
  const answer = $("#answer");
  answer.textContent = text;
  answer.className = "answer " + kind;
}

/** Asks in the #confirm dialog; resolves true on yes. Cancel has focus first: it is safer. */
function confirmAction(text, yes) {
  const dialog = $("#confirm");
  const back = document.activeElement;
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  dialog.returnValue = "";
  dialog.showModal();
  $("#confirm-no").focus();
  const closed = () => {
    if (back && back.isConnected && typeof back.focus === "function") back.focus();
    return dialog.returnValue === "yes";
  };
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(closed()), { once: true });
  });
}

/**
 * Runs one action at a time. The button is marked aria-disabled rather than disabled: a
 * disabled button drops the keyboard focus to the page's body.
 */
async function acting(button, action) {
  if (state.acting) return;
  state.acting = true;
  button.setAttribute("aria-disabled", "true");
  try {
    await action();
  } finally {
    state.acting = false;
    button.removeAttribute("aria-disabled");
  }
}

async function stopActor(key, button) {
  const name = nameOf(key);
  if (state.acting) return;
  if (!(await confirmAction(`Stop actor ${name} (${key})? Its bindings are removed.`, "Stop"))) {
    return;
  }
  await acting(button, async () => {
    showAnswer(`Stopping ${name}…`, "busy");
    const response = await api(`/actors/${encodeURIComponent(key)}/stop`, { method: "POST" });
    if (!response) return;
    if (response.ok) {
      const body = await response.json().catch(() => ({}));
      showAnswer(`Stopped ${body.name || name}`, "ok");
    } else {
      const why = await errorOf(response);
      showAnswer(`Stopping ${name} failed (HTTP ${response.status}): ${why}`, "error");
    }
  });
}

async function updateActor(event) {
  event.preventDefault();
  const input = $("#update-file");
  const file = input.files && input.files[0];
  if (!file) {
    showAnswer("Choose a signed module (.wasm) first.", "error");
    input.focus();
    return;
  }
  const force = $("#update-force").checked;
  if (state.acting) return;
  if (!(await confirmAction(`Replace the running actor with ${file.name}?`, "Update"))) return;
  await acting($("#update-submit"), async () => {
    showAnswer(`Updating from ${file.name}…`, "busy");
    const response = await api("/actors/update" + (force ? "?force=true" : ""), {
      method: "POST",
      headers: { "Content-Type": "application/wasm" },
      body: file,
    });
    if (!response) return;
    if (response.ok) {
      const b = await response.json();
      const revs = `from rev ${revText(b.previous_rev)} to rev ${revText(b.rev)}`;
      showAnswer(`Updated ${b.name} (${short(b.key)}) ${revs}`, "ok");
      $("#update-form").reset();
    } else {
      showAnswer(`Update refused (HTTP ${response.status}): ${await errorOf(response)}`, "error");
    }
  });
}

// start ----------------------------------------------------------------------------------

function boot() {
  $("#login").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) {
      showLogin("Paste the admin token first.");
      return;
    }
    tryToken(token);
  });
  $("#logout").addEventListener("click", () => logout(""));
  $("#update-form").addEventListener("submit", updateActor);
  $("#confirm-yes").addEventListener("click", () => $("#confirm").close("yes"));
  $("#confirm-no").addEventListener("click", () => $("#confirm").close("no"));
  const graph = $("#graph");
  graph.addEventListener("focusin", (e) => highlight(e.target));
  graph.addEventListener("focusout", () => highlight(null));
  graph.addEventListener("mouseover", (e) => highlight(e.target));
  graph.addEventListener("mouseleave", () => highlight(document.activeElement));
  narrowScreen.addEventListener("change", () => state.inventory && renderGraph());
  if (location.port) $("#token-port").textContent = ` (PORT is ${location.port} here)`;

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    $("#login").hidden = true;
    tryToken(saved);
  } else {
    showLogin("");
  }
}

boot();
