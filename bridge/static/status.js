// The status page: reads /status.json every two seconds and draws the live map and the tables.
// Every value from the daemon goes in through textContent or an attribute, never as markup.
"use strict";

const REFRESH_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";
const SIZE = 640;
const PAD = 28;
// The GTA V map, shown while there is nothing to draw yet.
const WORLD = { minX: -4000, maxX: 4500, minY: -4000, maxY: 8000 };

let postals = [];

// Plain words for the API's route names.
const ROUTES = {
  update_call: "call moves (update_call)",
  get_calls: "call list reads (get_calls)",
};

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG_NS, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return value.toFixed(1) + " s";
  if (value < 120) return Math.round(value) + " s";
  return Math.round(value / 60) + " min";
}

function metres(value) {
  return value === null || value === undefined ? "–" : Math.round(value) + " m";
}

function point(xy) {
  return xy ? `${Math.round(xy[0])}, ${Math.round(xy[1])}` : "–";
}

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = el("tr");
      for (const cell of cells) {
        const [text, cls] = Array.isArray(cell) ? cell : [cell, ""];
        tr.append(el("td", cls ? { class: cls } : {}, text));
      }
      return tr;
    }),
  );
}

function bounds(calls) {
  const xs = [];
  const ys = [];
  for (const call of calls) {
    for (const xy of [call.subject_at, call.drawn_at]) {
      if (xy) {
        xs.push(xy[0]);
        ys.push(xy[1]);
      }
    }
  }
  if (xs.length === 0) {
    for (const p of postals) {
      xs.push(p.x);
      ys.push(p.y);
    }
  }
  if (xs.length === 0) return { ...WORLD };
  let box = { minX: Math.min(...xs), maxX: Math.max(...xs), minY: Math.min(...ys), maxY: Math.max(...ys) };
  // At least 400 m across, and square, so distances read the same both ways.
  const span = Math.max(400, box.maxX - box.minX, box.maxY - box.minY) * 1.15;
  const cx = (box.minX + box.maxX) / 2;
  const cy = (box.minY + box.maxY) / 2;
  return { minX: cx - span / 2, maxX: cx + span / 2, minY: cy - span / 2, maxY: cy + span / 2 };
}

function gridStep(span) {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function drawMap(calls) {
  const svg = document.getElementById("map");
  const box = bounds(calls);
  const span = Math.max(box.maxX - box.minX, box.maxY - box.minY);
  const scale = (SIZE - 2 * PAD) / span;
  const sx = (x) => PAD + (x - box.minX) * scale;
  const sy = (y) => SIZE - PAD - (y - box.minY) * scale; // game y points north: up
  const nodes = [];
  const step = gridStep(span);
  for (let x = Math.ceil(box.minX / step) * step; x <= box.maxX; x += step) {
    nodes.push(el("svg:line", { class: "grid", x1: sx(x), x2: sx(x), y1: 0, y2: SIZE }));
    nodes.push(el("svg:text", { class: "grid", x: sx(x) + 2, y: SIZE - 4 }, String(Math.round(x))));
  }
  for (let y = Math.ceil(box.minY / step) * step; y <= box.maxY; y += step) {
    nodes.push(el("svg:line", { class: "grid", x1: 0, x2: SIZE, y1: sy(y), y2: sy(y) }));
    nodes.push(el("svg:text", { class: "grid", x: 2, y: sy(y) - 2 }, String(Math.round(y))));
  }
  const inside = (p) => p.x >= box.minX && p.x <= box.maxX && p.y >= box.minY && p.y <= box.maxY;
  const shown = postals.filter(inside);
  for (const p of shown) {
    nodes.push(el("svg:circle", { class: "postal", cx: sx(p.x), cy: sy(p.y), r: 1.5 }));
    if (shown.length <= 400) {
      nodes.push(el("svg:text", { class: "postal", x: sx(p.x) + 2, y: sy(p.y) - 2 }, p.code));
    }
  }
  for (const call of calls) {
    // A 911 call may share its id with a dispatch call: its own key and label.
    const id = call.kind === "emergency"
      ? `${call.server_id}:911:${call.call_id}` : `${call.server_id}:${call.call_id}`;
    if (call.drawn_at && call.subject_at) {
      nodes.push(el("svg:line", {
        class: "error", "data-call": id,
        x1: sx(call.drawn_at[0]), y1: sy(call.drawn_at[1]),
        x2: sx(call.subject_at[0]), y2: sy(call.subject_at[1]),
      }));
    }
    if (call.drawn_at) {
      const [x, y] = call.drawn_at;
      nodes.push(el("svg:circle", {
        class: "pin", "data-call": id, "data-x": x, "data-y": y,
        cx: sx(x), cy: sy(y), r: Math.max(4, (call.radius || 0) * scale),
      }));
      nodes.push(el("svg:circle", { class: "pin-dot", cx: sx(x), cy: sy(y), r: 2.5 }));
      nodes.push(el("svg:text", { class: "label", x: sx(x) + 6, y: sy(y) - 6 }, `call ${callName(call)}`));
    }
  }
  const subjects = new Map();
  for (const call of calls) if (call.subject_at) subjects.set(`${call.server_id}:${call.subject}`, call);
  for (const [key, call] of subjects) {
    const [x, y] = call.subject_at;
    nodes.push(el("svg:circle", {
      class: "subject", "data-subject": key, "data-x": x, "data-y": y, cx: sx(x), cy: sy(y), r: 5,
    }));
    nodes.push(el("svg:text", { class: "label subject-label", x: sx(x) + 7, y: sy(y) + 12 }, call.subject));
  }
  svg.replaceChildren(...nodes);
}

function render(view) {
  const failing = view.auth_failing ? " · CAD REFUSES THE API KEY" : "";
  const gone = view.departed.length ? ` · ${view.departed.length} disconnected` : "";
  document.getElementById("headline").textContent =
    `v${view.version} · up ${seconds(view.uptime)} · ${view.links.length} game server(s)${gone} · ` +
    `${view.calls.length} call(s) · ${view.requests} requests, ${view.pushes} pushes, ` +
    `${view.rate_limited} × 429 · mean map error ${metres(view.mean_error)}${failing}`;
  document.getElementById("banner").hidden = true;
  drawMap(view.calls);
  fill("links", [
    ...view.links.map((k) => [k.server_id, ["connected", "ok"], "#" + k.conn, k.frames, [k.errors, k.errors ? "bad" : ""]]),
    ...view.departed.map((d) => [
      d.server_id,
      [`disconnected ${seconds(d.gone_for)} ago`, "bad"],
      [`its ${d.calls} call(s) stay where the map last drew them until it reconnects ` +
        "(check that the game server and sonoran_bridge are running)", "detail"],
      "–", "–",
    ]),
  ]);
  fill("budgets", view.budgets.map((b) => [
    ROUTES[b.route] ?? b.route,
    // Using the budget is its purpose: only what needs action is coloured.
    `${b.used} of ${b.share} used, per ${b.window} s`,
    b.share < b.limit ? [`${b.share} of ${b.limit} (another program takes ${b.limit - b.share})`, "warn"] : `${b.share} of ${b.limit}`,
    b.next_free_in === null ? "when the request in flight ends"
      : b.next_free_in === 0 ? "now" : "in " + seconds(b.next_free_in),
    b.paused_for ? [seconds(b.paused_for), "bad"] : "–",
    [b.rate_limited, b.rate_limited ? "bad" : ""],
  ]));
  fill("calls", view.calls.map((c) => [
    c.server_id, callName(c), c.subject,
    view.departed.some((d) => d.server_id === c.server_id) ? [c.state, "bad"] : c.state,
    point(c.subject_at), point(c.drawn_at), metres(c.error),
    c.last_push_ago === null ? "never" : seconds(c.last_push_ago) + " ago",
    c.next_push_in === null ? "–" : "≈ " + seconds(c.next_push_in),
  ]));
  fill("requests", view.recent.map((r) => [
    seconds(r.ago) + " ago", ROUTES[r.route] ?? r.route, r.server_id, r.call_id ?? "–",
    [r.status, r.status === "200" ? "ok" : "bad"], r.latency_ms.toFixed(0) + " ms",
    [r.detail ?? "", "detail"],
  ]));
}

// The page's own origin, never its address: a page opened as https://me:password@host/ keeps
// the login in its address, and fetch() refuses any URL that carries one (resolved against
// it, "/status.json" would). The browser sends the login it holds for the origin all the same.
function here(path) {
  return new URL(path, window.location.origin);
}

async function refresh() {
  try {
    const answer = await fetch(here("/status.json"), { cache: "no-store" });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    render(await answer.json());
  } catch (error) {
    const banner = document.getElementById("banner");
    banner.textContent = `daemon unreachable (${error.message}); retrying`;
    banner.hidden = false;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

async function start() {
  try {
    const answer = await fetch(here("/postals.json"), { cache: "no-store" });
    if (answer.ok) postals = await answer.json();
  } catch (error) {
    postals = [];
  }
  await refresh();
}

start();

/** A call's id as shown: a 911 call's marked, since its id may equal a dispatch call's. */
function callName(call) {
  return call.kind === "emergency" ? `911 ${call.call_id}` : String(call.call_id);
}
