// The rtopt dashboard: polls GET v1/status and GET v1/vetoes every 2 s and draws them; approves or rejects a
// pending veto with the token kept in this tab's sessionStorage.
//
// Every value from the server reaches the DOM through textContent or setAttribute, never innerHTML, so
// nothing it sends (a strategy name, a veto reason) is ever parsed as markup. URLs are relative, so the
// page works wherever the app is mounted.
"use strict";

(() => {
  const POLL_MS = 2000;
  const TOKEN_KEY = "rtopt.dashboard.token";
  const BY_KEY = "rtopt.dashboard.by";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fdb", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6b7280"];
  const TOP_FEATURES = 5;
  const SMOOTHING = 10;
  const KEPT_RESOLVED = 10;
  const $ = (id) => document.getElementById(id);

  // ---- DOM and number helpers -------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function chart(width, height, label) {
    return svgEl("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  }

  const finite = (x) => typeof x === "number" && Number.isFinite(x);
  const fmt = (x, digits = 2) => (finite(x) ? x.toFixed(digits) : "—");
  const signed = (x, digits = 2) => (finite(x) && x > 0 ? "+" : "") + fmt(x, digits);
  const pct = (x) => (finite(x) ? `${(100 * x).toFixed(1)}%` : "—");
  const signClass = (x) => (finite(x) && x > 0 ? "pos" : finite(x) && x < 0 ? "neg" : "");
  const td = (text, cls) => el("td", { text: String(text ?? "—"), class: cls || "" });
  const note = (text) => el("p", { class: "muted", text });

  function timeOf(ns) {
    if (!finite(ns)) return "—";
    return new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19);
  }

  function shardsOf(status) {
    // The ingress sends {"shards": [...]}; a single engine's status is its own one shard.
    return Array.isArray(status.shards) ? status.shards : [status];
  }

  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map((h) => el("th", { text: h })));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  // ---- header -----------------------------------------------------------------------------------

  function renderSummary(status) {
    const badge = $("app-status");
    badge.textContent = status.status || "unknown";
    badge.dataset.state = status.status || "unknown";
    const models = Object.entries(status.active_models || {}).map(([role, v]) => `${role} ${v}`);
    const items = [
      ["decisions", String(status.decisions_generated ?? "—")],
      ["daily PnL", fmt(status.daily_pnl)],
      ["models", models.join(" · ") || "—"],
    ];
    $("summary").replaceChildren(...items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
  }

  // ---- risk state -------------------------------------------------------------------------------

  function riskOfShard(shard, index) {
    const state = shard.trading_state || shard.status || "unknown";
    const head = el(
      "div",
      { class: "shard-head" },
      el("strong", { text: `shard ${shard.shard ?? index}` }),
      el("span", { class: "badge", "data-state": state, "data-testid": "trading-state", text: state }),
      el("span", { text: `daily PnL ${fmt(shard.daily_pnl)}`, class: signClass(shard.daily_pnl) }),
    );
    const limits = Object.entries(shard.limits || {})
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    const disabled = Object.keys(shard.disabled_strategies || {});
    const events = (shard.risk_events || []).slice(-5).reverse();
    const items = events.map((e) =>
      el("li", { text: `${timeOf(e.timestamp_ns)} ${e.previous} → ${e.state}: ${e.cause} (by ${e.by})` }),
    );
    return el(
      "div",
      { class: "shard" },
      head,
      el("div", { class: "limits", text: `limits: ${limits.join(", ") || "none"}` }),
      el("div", { class: "limits", text: `disabled strategies: ${disabled.join(", ") || "none"}` }),
      items.length ? el("ol", { class: "events" }, ...items) : note("no risk events"),
    );
  }

  function renderRisk(status) {
    $("risk").replaceChildren(...shardsOf(status).map(riskOfShard));
  }

  // ---- exposure ---------------------------------------------------------------------------------

  function divergingBars(rows, scale, label) {
    // rows: [{name, value, text}]; bars grow left (negative) or right (positive) of the centre line.
    const width = 640, rowH = 24, top = 6, centre = 330, half = 170;
    const svg = chart(width, top * 2 + rows.length * rowH, label);
    svg.append(svgEl("line", { class: "axis", x1: centre, x2: centre, y1: 0, y2: top * 2 + rows.length * rowH }));
    rows.forEach((row, i) => {
      const y = top + i * rowH;
      const w = scale > 0 && finite(row.value) ? (Math.min(Math.abs(row.value), scale) / scale) * half : 0;
      const x = row.value < 0 ? centre - w : centre;
      svg.append(svgEl("text", { x: 4, y: y + 16 }, row.name));
      svg.append(svgEl("rect", { class: row.value < 0 ? "bar-neg" : "bar-pos", x, y: y + 4, width: w, height: 14 }));
      svg.append(svgEl("text", { x: centre + half + 8, y: y + 16 }, row.text));
    });
    return svg;
  }

  function renderExposure(status) {
    const positions = Object.entries(status.positions || {});
    if (!positions.length) return $("exposure").replaceChildren(note("no positions yet"));
    const cap = shardsOf(status)[0]?.limits?.max_position;
    const largest = Math.max(...positions.map(([, p]) => Math.abs(p.position || 0)));
    const scale = Math.max(finite(cap) ? cap : 0, largest);
    const bars = positions.map(([symbol, p]) => ({
      name: symbol,
      value: p.position,
      text: `${signed(p.position, 4)} (${finite(cap) && cap > 0 ? pct(Math.abs(p.position) / cap) : "—"} of cap)`,
    }));
    const gross = positions.reduce((sum, [, p]) => sum + Math.abs(p.position || 0), 0);
    const rows = positions.map(([symbol, p]) =>
      el("tr", { "data-symbol": symbol }, td(symbol), td(signed(p.position, 4), "num"), td(fmt(p.quantity, 4), "num"),
        td(fmt(p.entry_price), "num"), td(fmt(p.last_price), "num"), td(fmt(p.pnl_net), `num ${signClass(p.pnl_net)}`),
        td(fmt(p.costs), "num"), td(fmt(p.fills, 0), "num")),
    );
    $("exposure").replaceChildren(
      divergingBars(bars, scale, "position per symbol, fraction of the maximum position"),
      el("p", { class: "muted", text: `gross exposure ${fmt(gross, 4)}; bars scaled to the position cap ${fmt(cap)}` }),
      table(["symbol", "position", "quantity", "entry", "last", "PnL net", "costs", "fills"], rows),
    );
  }

  // ---- strategies -------------------------------------------------------------------------------

  function strategiesOf(status) {
    const totals = new Map();
    for (const shard of shardsOf(status)) {
      for (const [arm, s] of Object.entries(shard.strategies || {})) {
        const t = totals.get(arm) || { decisions: 0, pnl_bps: 0, wins: 0 };
        t.decisions += s.decisions || 0;
        t.pnl_bps += finite(s.pnl_bps) ? s.pnl_bps : 0;
        t.wins += s.wins || 0;
        totals.set(arm, t);
      }
    }
    return [...totals].map(([arm, t]) => ({ arm, ...t, rate: t.decisions ? t.wins / t.decisions : null }));
  }

  function renderStrategies(status) {
    const arms = strategiesOf(status);
    if (!arms.length) return $("strategies").replaceChildren(note("no data yet"));
    const width = 640, rowH = 24, top = 20, centre = 250, half = 90, rateX = 450, rateW = 120;
    const svg = chart(width, top + arms.length * rowH + 4, "PnL in basis points and success rate per strategy");
    const scale = Math.max(...arms.map((a) => Math.abs(a.pnl_bps)), 1e-9);
    svg.append(svgEl("text", { x: centre - half, y: 12 }, "PnL (bps, net)"));
    svg.append(svgEl("text", { x: rateX, y: 12 }, "success rate"));
    svg.append(svgEl("line", { class: "axis", x1: centre, x2: centre, y1: top - 2, y2: top + arms.length * rowH }));
    arms.forEach((a, i) => {
      const y = top + i * rowH, w = (Math.abs(a.pnl_bps) / scale) * half;
      const row = svgEl("g", { "data-strategy": a.arm });
      row.append(svgEl("text", { x: 4, y: y + 16 }, `${a.arm} (${a.decisions})`));
      row.append(svgEl("rect", { class: a.pnl_bps < 0 ? "bar-neg" : "bar-pos", x: a.pnl_bps < 0 ? centre - w : centre, y: y + 4, width: w, height: 14 }));
      row.append(svgEl("text", { x: centre + half + 6, y: y + 16 }, signed(a.pnl_bps, 1)));
      row.append(svgEl("rect", { class: "bar-back", x: rateX, y: y + 4, width: rateW, height: 14 }));
      row.append(svgEl("rect", { class: "bar-rate", x: rateX, y: y + 4, width: finite(a.rate) ? a.rate * rateW : 0, height: 14 }));
      row.append(svgEl("text", { x: rateX + rateW + 6, y: y + 16 }, pct(a.rate)));
      svg.append(row);
    });
    $("strategies").replaceChildren(svg, note("(n): settled outcomes per strategy; success: net PnL > 0 bps"));
  }

  // ---- feature importance -----------------------------------------------------------------------

  function importanceSeries(status) {
    const points = shardsOf(status).flatMap((s) => s.feature_importance || []);
    points.sort((a, b) => a.timestamp_ns - b.timestamp_ns);
    const means = new Map();
    for (const p of points) {
      for (const [name, v] of Object.entries(p.importance || {})) means.set(name, (means.get(name) || 0) + v / points.length);
    }
    const top = [...means].sort((a, b) => b[1] - a[1]).slice(0, TOP_FEATURES).map(([name]) => name);
    return { points, top };
  }

  function smoothed(points, name) {
    // Trailing mean over SMOOTHING explanations; a feature outside a point's top-k counts as 0 there.
    const raw = points.map((p) => (p.importance || {})[name] || 0);
    return raw.map((_, i) => {
      const window = raw.slice(Math.max(0, i - SMOOTHING + 1), i + 1);
      return window.reduce((a, b) => a + b, 0) / window.length;
    });
  }

  function renderImportance(status) {
    const { points, top } = importanceSeries(status);
    if (!points.length) return $("importance").replaceChildren(note("no data yet"));
    const width = 640, height = 220, left = 52, right = 10, top_ = 10, bottom = 24;
    const lines = top.map((name) => ({ name, values: smoothed(points, name) }));
    const ymax = Math.max(...lines.flatMap((l) => l.values), 1e-12);
    const t0 = points[0].timestamp_ns, t1 = points[points.length - 1].timestamp_ns;
    const x = (t) => left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (width - left - right) : (width - left - right) / 2);
    const y = (v) => top_ + (1 - v / ymax) * (height - top_ - bottom);
    const svg = chart(width, height, "mean absolute attribution of the top features over time");
    for (const v of [0, ymax / 2, ymax]) {
      svg.append(svgEl("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }));
      svg.append(svgEl("text", { x: 2, y: y(v) + 4 }, v.toPrecision(2)));
    }
    svg.append(svgEl("text", { x: left, y: height - 6 }, timeOf(t0)));
    svg.append(svgEl("text", { x: width - right, y: height - 6, "text-anchor": "end" }, timeOf(t1)));
    const legend = el("div", { class: "legend" });
    lines.forEach((line, i) => {
      const d = line.values.map((v, j) => `${x(points[j].timestamp_ns).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(svgEl("polyline", { class: "line", points: d, stroke: COLORS[i % COLORS.length], "data-feature": line.name }));
      const swatch = el("span", { text: line.name });
      swatch.style.setProperty("--swatch", COLORS[i % COLORS.length]);
      legend.append(swatch);
    });
    $("importance").replaceChildren(svg, legend, note(`mean |attribution|, trailing ${SMOOTHING} explanations; ${points.length} points`));
  }

  // ---- shadow vs champion -----------------------------------------------------------------------

  function agreementBar(rate) {
    const svg = chart(120, 16, "agreement rate");
    svg.setAttribute("class", "chart mini");
    svg.append(svgEl("rect", { class: "bar-back", x: 0, y: 2, width: 120, height: 12 }));
    svg.append(svgEl("rect", { class: "bar-rate", x: 0, y: 2, width: finite(rate) ? rate * 120 : 0, height: 12 }));
    return svg;
  }

  function versionsText(champion, shadow) {
    const roles = Object.keys({ ...champion, ...shadow });
    return roles.map((r) => (champion[r] === shadow[r] ? `${r} same` : `${r} ${champion[r] ?? "—"} → ${shadow[r] ?? "—"}`)).join("; ");
  }

  function renderShadow(status) {
    const champions = new Map(shardsOf(status).map((s, i) => [`shard${s.shard ?? i}`, s]));
    const rows = [];
    for (const [shardName, shadows] of Object.entries(status.shadow || {})) {
      const champion = champions.get(shardName) || {};
      for (const [name, m] of Object.entries(shadows || {})) {
        const agreement = el("td", {}, agreementBar(m.agreement_rate), ` ${pct(m.agreement_rate)}`);
        rows.push(el("tr", { "data-shadow": `${shardName}/${name}` }, td(shardName), td(name),
          td(versionsText(champion.active_models || status.active_models || {}, m.versions || {})),
          td(m.decisions, "num"), agreement, td(signed(m.delta_pnl_bps), `num ${signClass(m.delta_pnl_bps)}`),
          td(fmt(m.shadow_pnl), "num"), td(fmt(champion.total_pnl), "num")));
      }
    }
    if (!rows.length) return $("shadow").replaceChildren(note("no shadow running"));
    const headers = ["shard", "shadow", "versions (champion → shadow)", "decisions", "agreement", "Δ PnL (bps)", "shadow PnL", "champion PnL"];
    $("shadow").replaceChildren(table(headers, rows));
  }

  // ---- vetoes -----------------------------------------------------------------------------------

  const pendingRows = new Map();

  function say(kind, text) {
    const message = $("veto-message");
    message.dataset.kind = kind;
    message.textContent = text;
  }

  function authHeaders() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: `Bearer ${token}` } : null;
  }

  function deadlineText(veto) {
    const left = Math.round((veto.deadline_ns / 1e6 - Date.now()) / 1000);
    return left > 0 ? `${left}s, then ${veto.default_outcome}` : `due: ${veto.default_outcome}`;
  }

  function pendingRow(veto) {
    const r = veto.request || {};
    const reason = el("input", { class: "reason", type: "text", placeholder: "reason", "aria-label": `reason for ${veto.veto_id}` });
    const approve = el("button", { type: "button", class: "approve", text: "Approve" });
    const reject = el("button", { type: "button", class: "reject", text: "Reject" });
    const deadline = el("td", { text: deadlineText(veto) });
    const why = (veto.triggers || []).map((t) => `${t.rule}: ${t.detail}`).join("; ");
    const row = el("tr", { "data-veto-id": veto.veto_id }, td(veto.veto_id), td(r.symbol), td(r.strategy),
      td(`${fmt(r.previous_position, 3)} → ${fmt(r.position_size, 3)}`, "num"), td(fmt(r.confidence, 3), "num"),
      td(why), deadline, el("td", {}, reason), el("td", { class: "actions" }, approve, " ", reject));
    approve.addEventListener("click", () => resolveVeto(veto.veto_id, "approve", reason, [approve, reject]));
    reject.addEventListener("click", () => resolveVeto(veto.veto_id, "reject", reason, [approve, reject]));
    return { row, deadline, veto };
  }

  function renderPending(pending) {
    // Rows are kept across polls (a reason being typed survives); only new ones are added, gone ones removed.
    const ids = new Set(pending.map((v) => v.veto_id));
    for (const [id, entry] of pendingRows) {
      if (!ids.has(id)) { entry.row.remove(); pendingRows.delete(id); }
    }
    const body = $("pending").tBodies[0];
    for (const veto of pending) {
      if (!pendingRows.has(veto.veto_id)) {
        const entry = pendingRow(veto);
        pendingRows.set(veto.veto_id, entry);
        body.append(entry.row);
      }
      pendingRows.get(veto.veto_id).deadline.textContent = deadlineText(veto);
    }
    $("vetoes-note").textContent = pending.length ? "" : "no pending vetoes";
  }

  function renderResolved(resolved) {
    const rows = resolved.slice(-KEPT_RESOLVED).reverse().map((r) =>
      el("tr", { "data-veto-id": r.veto_id, "data-outcome": r.outcome }, td(r.veto_id), td(r.veto?.request?.symbol),
        td(r.outcome, r.outcome === "approved" ? "pos" : "neg"), td(r.by), td(r.role ?? "—"), td(r.reason),
        td(timeOf(r.resolved_ns))));
    $("resolved").tBodies[0].replaceChildren(...rows);
  }

  function detailOf(body) {
    const detail = body && body.detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail ?? body);
  }

  async function refreshVetoes() {
    const headers = authHeaders();
    if (!headers) {
      renderPending([]);
      $("vetoes-note").textContent = "enter a token (any role) to list vetoes";
      return;
    }
    const reply = await fetch("v1/vetoes", { headers, cache: "no-store" });
    const body = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      renderPending([]);
      $("vetoes-note").textContent = `GET v1/vetoes: HTTP ${reply.status}: ${detailOf(body)}`;
      return;
    }
    renderPending(body.pending || []);
    renderResolved(body.resolved || []);
  }

  async function resolveVeto(id, verb, reasonInput, buttons) {
    const headers = authHeaders(), by = sessionStorage.getItem(BY_KEY), reason = reasonInput.value.trim();
    if (!headers || !by) return say("error", "enter a token and your name first");
    if (!reason) { reasonInput.focus(); return say("error", `${verb} ${id}: a reason is required`); }
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const reply = await fetch(`v1/vetoes/${encodeURIComponent(id)}/${verb}`, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ reason, by }),
      });
      const body = await reply.json().catch(() => ({}));
      if (!reply.ok) throw new Error(`HTTP ${reply.status}: ${detailOf(body)}`);
      say("ok", `${body.resolution.outcome} ${id} by ${body.resolution.by}`);
      await refreshVetoes();
    } catch (error) {
      say("error", `${verb} ${id}: ${error.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function setUpAuth() {
    const token = $("token"), by = $("by");
    token.value = sessionStorage.getItem(TOKEN_KEY) || "";
    by.value = sessionStorage.getItem(BY_KEY) || "";
    const keep = () => {
      sessionStorage.setItem(TOKEN_KEY, token.value.trim());
      sessionStorage.setItem(BY_KEY, by.value.trim());
    };
    token.addEventListener("input", keep);
    by.addEventListener("input", keep);
    $("auth").addEventListener("submit", (event) => { event.preventDefault(); keep(); refreshVetoes(); });
    $("forget-auth").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(BY_KEY);
      token.value = by.value = "";
      refreshVetoes();
    });
  }

  // ---- polling ----------------------------------------------------------------------------------

  const PANELS = [
    ["risk", renderRisk], ["exposure", renderExposure], ["strategies", renderStrategies],
    ["importance", renderImportance], ["shadow", renderShadow],
  ];

  async function refreshStatus() {
    const banner = $("status-error");
    const reply = await fetch("v1/status", { cache: "no-store" }).catch((error) => error);
    if (!(reply instanceof Response) || !reply.ok) {
      banner.hidden = false;
      banner.textContent = `GET v1/status failed (${reply instanceof Response ? `HTTP ${reply.status}` : reply.message}); showing the last data`;
      return;
    }
    const status = await reply.json();
    banner.hidden = true;
    renderSummary(status);
    for (const [id, render] of PANELS) {
      try {
        render(status);
      } catch (error) {
        // One panel's bad data says so in that panel; the others still draw.
        $(id).replaceChildren(el("p", { class: "error", text: `cannot draw: ${error.message}` }));
      }
    }
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  async function poll() {
    const results = await Promise.allSettled([refreshStatus(), refreshVetoes()]);
    for (const r of results) if (r.status === "rejected") say("error", `refresh: ${r.reason}`);
    setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpAuth();
    poll();
  });
})();
