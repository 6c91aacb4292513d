// Line charts on a <canvas>, TensorBoard-scalars style: several series overlaid, debiased
// exponential moving average smoothing (the raw line faint behind), linear or log y, and a
// hover tooltip with every series' value at the hovered x. No library.
import { h, clear, fmtValue, fmtDuration } from "./dom.js";

/** Load the stylesheet of the compare and charts pages once (their own file beside app.css). */
export function useStyles() {
  if (document.querySelector('link[data-styles="compare"]')) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/compare.css", dataset: { styles: "compare" } }));
}

export const COLORS = ["#2f5fd0", "#e8710a", "#1f9d55", "#d64545", "#8a4fd0", "#0f9fb0", "#c0397f",
  "#7a8b1f", "#5b6475", "#b8860b"];

/** TensorBoard's smoothing: an exponential moving average debiased for its first points
 * (weight 0: the raw values). Non-finite values pass through unsmoothed. */
export function smooth(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let last = 0, count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    count += 1;
    out[i] = weight === 1 ? last : last / (1 - Math.pow(weight, count));
  }
  return out;
}

/** About `count` round tick values between lo and hi. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function nearest(xs, x) {
  let lo = 0, hi = xs.length - 1;
  if (hi < 0) return -1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid; else hi = mid;
  }
  return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
}

const PAD = { left: 64, right: 16, top: 12, bottom: 30 };

/**
 * A chart in `container`: series [{label, color, x: [...], y: [...]}]; options {smoothing
 * (0..1), logY, xTime (x in seconds: ticks as durations), height, receivedAt (performance.now()
 * when the data arrived: the canvas's data-render-ms counts from there)}.
 * Returns {update(options), destroy()}.
 */
export function lineChart(container, series, options = {}) {
  let opts = { smoothing: 0, logY: false, xTime: false, height: 280, ...options };
  const canvas = h("canvas", { class: "chart-canvas" });
  const tip = h("div", { class: "chart-tip", hidden: true });
  const wrap = h("div", { class: "chart-wrap" }, canvas, tip);
  container.append(wrap);
  let hoverX = null;
  let frame = null;

  function layout() {
    const width = Math.max(240, wrap.clientWidth || 600);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(opts.height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${opts.height}px`;
    return { width, height: opts.height, dpr };
  }

  function prepared() {
    const ty = opts.logY ? (v) => (v > 0 ? Math.log10(v) : NaN) : (v) => v;
    return series.map((s) => {
      const raw = s.y.map(ty);
      return { ...s, raw, smooth: smooth(raw, opts.smoothing) };
    });
  }

  function domain(data) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of data) {
      for (let i = 0; i < s.x.length; i++) {
        const y = s.raw[i];
        if (!Number.isFinite(y)) continue;
        if (s.x[i] < x0) x0 = s.x[i];
        if (s.x[i] > x1) x1 = s.x[i];
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    if (!Number.isFinite(x0)) return null;
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
    const pad = (y1 - y0) * 0.05;
    return { x0, x1, y0: y0 - pad, y1: y1 + pad };
  }

  function draw() {
    const { width, height, dpr } = layout();
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const data = prepared();
    const dom = domain(data);
    let drawn = 0;
    if (!dom) {
      ctx.fillStyle = "#667085";
      ctx.font = "13px system-ui, sans-serif";
      ctx.fillText(opts.logY ? "No positive values to draw on a log scale." : "No points.", PAD.left, 30);
      return { drawn, dom: null, data };
    }
    const pw = width - PAD.left - PAD.right, ph = height - PAD.top - PAD.bottom;
    const sx = (x) => PAD.left + ((x - dom.x0) / (dom.x1 - dom.x0)) * pw;
    const sy = (y) => PAD.top + (1 - (y - dom.y0) / (dom.y1 - dom.y0)) * ph;
    // grid and axes
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = "#e6e9ef";
    ctx.fillStyle = "#667085";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of ticks(dom.y0, dom.y1, 5)) {
      const y = Math.round(sy(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD.left, y); ctx.lineTo(width - PAD.right, y); ctx.stroke();
      ctx.fillText(opts.logY ? fmtValue(Number(Math.pow(10, t).toPrecision(3))) : fmtValue(Number(t.toPrecision(6))), PAD.left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of ticks(dom.x0, dom.x1, Math.max(2, Math.floor(pw / 90)))) {
      const x = Math.round(sx(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, PAD.top); ctx.lineTo(x, PAD.top + ph); ctx.stroke();
      ctx.fillText(opts.xTime ? fmtDuration(t) : fmtValue(t), x, PAD.top + ph + 6);
    }
    ctx.strokeStyle = "#9aa3b2";
    ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, pw, ph);
    // lines: raw faint behind the smoothed one
    ctx.save();
    ctx.beginPath(); ctx.rect(PAD.left, PAD.top, pw, ph); ctx.clip();
    const smoothing = opts.smoothing > 0;
    const stroke = (s, ys, alpha, widthPx) => {
      ctx.globalAlpha = alpha;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = widthPx;
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < s.x.length; i++) {
        const y = ys[i];
        if (!Number.isFinite(y)) { pen = false; continue; }
        const px = sx(s.x[i]), py = sy(y);
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
        drawn += 1;
      }
      if (s.x.length === 1) ctx.arc(sx(s.x[0]), sy(ys[0]), 2, 0, 2 * Math.PI);
      ctx.stroke();
    };
    for (const s of data) {
      if (smoothing) stroke(s, s.raw, 0.25, 1);
      stroke(s, smoothing ? s.smooth : s.raw, 1, 1.6);
    }
    ctx.globalAlpha = 1;
    // hover: a vertical line and a dot on each series at the nearest x
    if (hoverX !== null) {
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 1;
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(sx(hoverX), PAD.top); ctx.lineTo(sx(hoverX), PAD.top + ph); ctx.stroke();
      ctx.setLineDash([]);
      for (const s of data) {
        const i = nearest(s.x, hoverX);
        const y = i < 0 ? NaN : (smoothing ? s.smooth : s.raw)[i];
        if (!Number.isFinite(y)) continue;
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(sx(s.x[i]), sy(y), 3.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
    ctx.restore();
    return { drawn, dom, data, sx, pw };
  }

  let state = draw();
  canvas.dataset.points = String(state.drawn);
  if (opts.receivedAt !== undefined) canvas.dataset.renderMs = (performance.now() - opts.receivedAt).toFixed(1);

  function showTip(clientX) {
    if (!state.dom) return;
    const rect = canvas.getBoundingClientRect();
    const px = clientX - rect.left;
    if (px < PAD.left || px > PAD.left + state.pw) { hide(); return; }
    const x = state.dom.x0 + ((px - PAD.left) / state.pw) * (state.dom.x1 - state.dom.x0);
    hoverX = x;
    state = draw();
    const rows = [];
    let at = null;
    for (const s of state.data) {
      const i = nearest(s.x, x);
      if (i < 0) continue;
      if (at === null || Math.abs(s.x[i] - x) < Math.abs(at - x)) at = s.x[i];
      const value = s.y[i];
      const shown = opts.smoothing > 0 ? s.smooth[i] : s.raw[i];
      const smoothed = opts.logY ? Math.pow(10, shown) : shown;
      rows.push(h("tr", {},
        h("td", {}, h("span", { class: "swatch", style: `background:${s.color}` })),
        h("td", { class: "chart-tip-run" }, s.label),
        h("td", { class: "num" }, opts.smoothing > 0 ? fmtValue(Number(smoothed.toPrecision(6))) : ""),
        h("td", { class: "num" }, fmtValue(value)),
        h("td", { class: "num muted" }, opts.xTime ? fmtDuration(s.x[i]) : `step ${s.x[i]}`)));
    }
    clear(tip).append(h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}), h("th", {}, "run"), h("th", {}, opts.smoothing > 0 ? "smoothed" : ""),
        h("th", {}, "value"), h("th", {}, opts.xTime ? "time" : "step"))),
      h("tbody", {}, rows)));
    tip.hidden = false;
    const left = Math.min(px + 14, rect.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = "8px";
  }

  function hide() {
    tip.hidden = true;
    if (hoverX !== null) { hoverX = null; state = draw(); }
  }

  const onMove = (ev) => {
    const x = ev.clientX;
    if (frame) cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => { frame = null; showTip(x); });
  };
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", hide);
  const onResize = () => { state = draw(); };
  window.addEventListener("resize", onResize);

  return {
    canvas,
    /** Redraw with changed options (smoothing, logY, xTime). */
    update(changed) {
      opts = { ...opts, ...changed };
      const started = performance.now();
      state = draw();
      canvas.dataset.points = String(state.drawn);
      canvas.dataset.renderMs = (performance.now() - started).toFixed(1);
    },
    /** Hover at data x (what a mouse over that x shows). */
    hoverAt(clientX) { showTip(clientX); },
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener("resize", onResize);
      wrap.remove();
    },
  };
}
