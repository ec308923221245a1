"use strict";
// The dashboard page: reads the JSON API and draws the equity curve as an SVG polyline (no library, no CDN).
(function () {
  const $ = (id) => document.getElementById(id);
  const hash = new URLSearchParams(location.hash.slice(1));
  const initData = hash.get("tgWebAppData") || "";
  // plain web admin: /#admin_token=… (a fragment never reaches the server or its logs); out of the address bar
  const adminToken = hash.get("admin_token") || "";
  if (adminToken) history.replaceState(null, "", location.pathname + location.search);

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + " %");
  const num = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d === undefined ? 2 : d));

  async function get(path, headers) {
    const response = await fetch(path, { headers: headers || {} });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  function drawEquity(points) {
    const line = $("equity-line");
    line.dataset.count = String(points.length);
    if (!points.length) { $("equity-range").textContent = "No equity points yet."; return; }
    const values = points.map((p) => p[1]);
    const lo = Math.min(...values), hi = Math.max(...values);
    const span = hi - lo || 1, n = Math.max(points.length - 1, 1);
    line.setAttribute("points", values.map((v, i) =>
      (i * 600 / n).toFixed(1) + "," + (210 - (v - lo) / span * 200).toFixed(1)).join(" "));
    $("equity-range").textContent = points[0][0].slice(0, 10) + " → " + points[points.length - 1][0].slice(0, 10) +
      ": " + num(values[0]) + " → " + num(values[values.length - 1]);
  }

  // Drawdown from the running peak (%, ≤ 0) and each calendar month's return, from the same equity points.
  function drawDrawdown(points) {
    let peak = -Infinity;
    const dd = points.map((p) => { peak = Math.max(peak, p[1]); return peak > 0 ? (p[1] / peak - 1) * 100 : 0; });
    const line = $("drawdown-line");
    line.dataset.count = String(dd.length);
    if (!dd.length) return;
    const lo = Math.min(...dd, -0.01), n = Math.max(dd.length - 1, 1);
    line.setAttribute("points", dd.map((v, i) => (i * 600 / n).toFixed(1) + "," + (2 + v / lo * 76).toFixed(1)).join(" "));
  }

  function showMonthly(points) {
    const body = document.querySelector("#monthly tbody");
    body.replaceChildren();
    const ends = new Map();
    for (const p of points) ends.set(p[0].slice(0, 7), p[1]);
    let previous = points.length ? points[0][1] : 0;
    for (const [month, value] of ends) {
      const change = previous > 0 ? value / previous - 1 : 0;
      const row = document.createElement("tr");
      row.dataset.month = month;
      row.append(text("td", month), text("td", (change * 100).toFixed(2) + " %", change >= 0 ? "win" : "loss"));
      body.append(row);
      previous = value;
    }
  }

  function showPositions(positions) {
    const body = document.querySelector("#positions tbody");
    body.replaceChildren();
    for (const p of positions) {
      const row = document.createElement("tr");
      row.dataset.id = p.id;
      row.append(text("td", p.symbol), text("td", p.side), text("td", num(p.entry_price, 4)),
        text("td", num(p.stop_loss, 4)), text("td", p.take_profit.map((t) => num(t, 4)).join(", ")));
      body.append(row);
    }
    $("positions-empty").hidden = positions.length > 0;
  }

  function showTrades(trades) {
    const list = $("trades");
    list.replaceChildren();
    for (const t of trades) {
      const item = document.createElement("li");
      item.dataset.signal = t.signal_id;
      item.append(text("span", t.exit_time.slice(0, 16).replace("T", " ") + " " + t.symbol + " " + t.side +
        " " + t.exit_reason + " "), text("span", num(t.net_pnl), t.net_pnl > 0 ? "win" : "loss"));
      if (t.signal_id) {
        const link = text("a", " why");
        link.href = "#why/" + encodeURIComponent(t.signal_id);
        item.append(link);
      }
      list.append(item);
    }
    if (!trades.length) list.append(text("li", "No closed trades yet.", "muted"));
  }

  async function showDecisions() {
    try {
      const body = document.querySelector("#decisions tbody");
      for (const d of await get("/api/decisions?limit=20")) {
        const row = document.createElement("tr");
        const guard = d.verdict ? (d.verdict.approved ? "approved" : d.verdict.reason) : (d.error ? "error" : "–");
        const decision = (d.action || d.status || "–") + " · " + (d.engine || "") + (d.model ? " " + d.model : "");
        row.append(text("td", d.as_of.slice(0, 16).replace("T", " ")), text("td", d.symbol), text("td", decision),
          text("td", guard));
        if (d.signal_id) row.addEventListener("click", () => { location.hash = "#why/" + encodeURIComponent(d.signal_id); });
        body.append(row);
      }
    } catch (error) { /* as the leaderboard: an extra */ }
  }

  async function showLeaderboard() {
    try {
      const board = await get("/api/leaderboard");
      const body = document.querySelector("#leaderboard tbody");
      for (const r of board.rows) {
        const row = document.createElement("tr");
        row.dataset.version = r.version;
        const live = r.version === board.live_version ? " (live)" : "";
        row.append(text("td", r.engine + live), text("td", r.source + (r.oos ? ", out of sample" : "")),
          text("td", String(r.trades)), text("td", num(r.total_return_pct, 1) + " %"),
          text("td", num(r.max_drawdown_pct, 1) + " %"));
        body.append(row);
      }
    } catch (error) { /* the leaderboard is an extra; the track record stands without it */ }
  }

  async function showWhy() {
    const match = location.hash.match(/^#why\/(.+)$/);
    $("why").hidden = !match;
    if (!match) return;
    const id = decodeURIComponent(match[1]);
    $("why-id").textContent = id;
    const body = $("why-body");
    body.replaceChildren();
    try {
      const w = await get("/api/why/" + encodeURIComponent(id));
      const rows = [["Symbol", w.symbol], ["At", w.as_of], ["Engine", (w.engine || "") + " " + (w.model || "")],
        ["Action", w.action + " (confidence " + num(w.confidence) + ")"], ["Reasoning", w.reasoning || "–"],
        ["Invalidation", w.invalidation || "–"],
        ["Guard", w.verdict ? (w.verdict.approved ? "approved" : "rejected: " + w.verdict.reason) : "–"]];
      for (const [k, v] of rows) body.append(text("dt", k), text("dd", v));
    } catch (error) {
      body.append(text("dd", String(error.message)));
    }
    $("why").scrollIntoView();
  }

  async function showAdmin() {
    const headers = initData ? { "X-Telegram-Init-Data": initData }
      : adminToken ? { "Authorization": "Bearer " + adminToken } : null;
    if (!headers) return;
    try {
      const [risk, audit] = await Promise.all([get("/api/admin/risk", headers), get("/api/admin/audit", headers)]);
      const dl = $("admin-risk");
      for (const [k, v] of Object.entries(Object.assign({}, risk.state, risk.limits))) {
        dl.append(text("dt", k), text("dd", JSON.stringify(v)));
      }
      for (const e of audit) $("admin-audit").append(text("li", e.at.slice(0, 16) + " " + e.actor + " " + e.action +
        ": " + e.old + " → " + e.new));
      $("admin").hidden = false;
    } catch (error) { /* followers see the public record only */ }
  }

  async function load() {
    try {
      const [record, positions, trades] = await Promise.all(
        [get("/api/track_record"), get("/api/positions"), get("/api/trades?limit=50")]);
      $("stat-positions").textContent = record.positions;
      $("stat-win-rate").textContent = pct(record.win_rate);
      $("stat-profit-factor").textContent = num(record.profit_factor);
      $("stat-drawdown").textContent = num(record.max_drawdown_pct, 1) + " %";
      drawEquity(record.equity);
      drawDrawdown(record.equity);
      showMonthly(record.equity);
      showPositions(positions);
      showTrades(trades);
      document.body.dataset.loaded = "1";
    } catch (error) {
      $("error").textContent = "Could not load the track record: " + error.message;
      $("error").hidden = false;
    }
    showDecisions();
    showLeaderboard();
    showAdmin();
    showWhy();
  }
  window.addEventListener("hashchange", showWhy);
  load();
})();
