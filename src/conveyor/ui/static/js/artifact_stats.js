// Statistics of an artifact: a table per split (and slice), one row per feature, with a small
// SVG histogram (numeric) or top-values bars (categorical); with a baseline, both side by side
// (the data set in blue, the baseline in orange, on common buckets).
import { h, fmtValue } from "./dom.js";

const BLUE = "#4e79a7", ORANGE = "#f28e2b";
const W = 180, H = 46, BINS = 12;

function key(ds) { return ds.slice ? `${ds.split} [${ds.slice}]` : ds.split; }

/** Counts of buckets [[low, high, count]] spread over BINS equal bins of [lo, hi]. */
function rebin(buckets, lo, hi) {
  const out = new Array(BINS).fill(0);
  const width = (hi - lo) / BINS || 1;
  for (const [a, b, count] of buckets) {
    if (!(b > a)) { out[Math.min(BINS - 1, Math.max(0, Math.floor((a - lo) / width)))] += count; continue; }
    for (let i = 0; i < BINS; i++) {
      const s = lo + i * width, e = s + width;
      const overlap = Math.max(0, Math.min(b, e) - Math.max(a, s));
      out[i] += count * overlap / (b - a);
    }
  }
  const total = out.reduce((x, y) => x + y, 0) || 1;
  return out.map((c) => c / total);
}

function histogramSvg(main, base) {
  const series = [main, base].filter(Boolean);
  const lo = Math.min(...series.flatMap((s) => s.map((b) => b[0])));
  const hi = Math.max(...series.flatMap((s) => s.map((b) => b[1])));
  const fractions = series.map((s) => rebin(s, lo, hi));
  const top = Math.max(...fractions.flat(), 1e-9);
  const slot = W / BINS, bar = (slot - 2) / series.length;
  const rects = [];
  fractions.forEach((fr, si) => fr.forEach((f, i) => {
    const hgt = (f / top) * (H - 12);
    rects.push(h("rect", { x: i * slot + 1 + si * bar, y: H - 12 - hgt, width: Math.max(bar - 0.5, 0.5), height: hgt, fill: si ? ORANGE : BLUE },
      h("title", {}, `${fmtValue(lo + i * (hi - lo) / BINS)} – ${fmtValue(lo + (i + 1) * (hi - lo) / BINS)}: ${(f * 100).toFixed(1)}%${si ? " (baseline)" : ""}`)));
  }));
  return h("svg", { class: "art-hist", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "histogram" },
    ...rects,
    h("text", { x: 0, y: H - 1, "font-size": 9, fill: "#667085" }, fmtValue(lo)),
    h("text", { x: W, y: H - 1, "font-size": 9, fill: "#667085", "text-anchor": "end" }, fmtValue(hi)));
}

function topValuesSvg(main, base) {
  const values = main.slice(0, 6).map((v) => v[0]);
  const frac = (list) => {
    const total = list.reduce((a, v) => a + v[1], 0) || 1;
    return new Map(list.map(([v, c]) => [v, c / total]));
  };
  const fm = frac(main), fb = base ? frac(base) : null;
  const rowH = base ? 12 : 8, height = values.length * (rowH + 3);
  const children = [];
  values.forEach((v, i) => {
    const y = i * (rowH + 3);
    children.push(h("text", { x: 0, y: y + rowH - 1, "font-size": 9, fill: "#1d2330" }, String(v).slice(0, 14)));
    const wm = (fm.get(v) || 0) * (W - 78);
    children.push(h("rect", { x: 76, y, width: wm, height: base ? rowH / 2 : rowH, fill: BLUE }, h("title", {}, `${v}: ${((fm.get(v) || 0) * 100).toFixed(1)}%`)));
    if (fb) {
      const wb = (fb.get(v) || 0) * (W - 78);
      children.push(h("rect", { x: 76, y: y + rowH / 2, width: wb, height: rowH / 2, fill: ORANGE }, h("title", {}, `${v}: ${((fb.get(v) || 0) * 100).toFixed(1)}% (baseline)`)));
    }
  });
  return h("svg", { class: "art-top", width: W, height: Math.max(height, 8), role: "img", "aria-label": "top values" }, ...children);
}

function featureRow(f, b) {
  const n = f.numeric || {};
  const total = f.count + f.missing;
  const missing = total ? (100 * f.missing) / total : 0;
  const bTotal = b ? b.count + b.missing : 0;
  const bMissing = bTotal ? (100 * b.missing) / bTotal : 0;
  const chart = f.histogram ? histogramSvg(f.histogram, b && b.histogram)
    : f.top_values ? topValuesSvg(f.top_values, b && b.top_values) : "";
  const pair = (x, y) => (b ? [fmtValue(x), h("br"), h("span", { class: "art-base" }, fmtValue(y))] : fmtValue(x));
  const bn = (b && b.numeric) || {};
  return h("tr", {},
    h("td", {}, h("b", {}, f.name), h("div", { class: "muted" }, f.type)),
    h("td", { class: "num" }, pair(f.count, b && b.count)),
    h("td", { class: `num${missing > 10 ? " art-miss" : ""}` }, `${missing.toFixed(1)}%`,
      b ? [h("br"), h("span", { class: "art-base" }, `${bMissing.toFixed(1)}%`)] : ""),
    h("td", { class: "num" }, f.numeric ? pair(n.mean, bn.mean) : f.unique !== undefined ? pair(`${f.unique} unique`, b && `${b.unique} unique`) : ""),
    h("td", { class: "num" }, f.numeric ? pair(n.std, bn.std) : ""),
    h("td", { class: "num" }, f.numeric ? pair(n.min, bn.min) : ""),
    h("td", { class: "num" }, f.numeric ? pair(n.median, bn.median) : ""),
    h("td", { class: "num" }, f.numeric ? pair(n.max, bn.max) : ""),
    h("td", {}, chart));
}

function datasetTable(ds, base) {
  const byName = new Map(((base && base.features) || []).map((f) => [f.name, f]));
  return h("div", { class: "card art-split", "data-split": key(ds) },
    h("h2", {}, `Split ${key(ds)}`, h("span", { class: "muted" }, ` — ${ds.num_rows} rows${base ? `; baseline ${base.num_rows} rows` : ""}`)),
    h("table", { class: "data art-stats" },
      h("thead", {}, h("tr", {}, ...["feature", "count", "missing", "mean", "std", "min", "median", "max", "distribution"].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...ds.features.map((f) => featureRow(f, base ? byName.get(f.name) : null)))));
}

/** The statistics view; `onBaseline(id|null)` is called when the user picks a baseline. */
export function renderStatistics(view, onBaseline) {
  const base = view.baseline;
  const chooser = h("select", { id: "baseline", "aria-label": "baseline" },
    h("option", { value: "" }, "no baseline"),
    ...(view.baselines || []).map((b) => h("option", { value: b.id, selected: base && base.artifact === b.id ? true : undefined }, `#${b.id} ${b.name || ""} ${b.created_at ? b.created_at.slice(0, 19).replace("T", " ") : ""}`)));
  chooser.addEventListener("change", () => onBaseline(chooser.value || null));
  const legend = base
    ? h("span", { class: "art-legend" }, h("span", { class: "art-sw", style: `background:${BLUE}` }), `#${view.artifact}`,
      h("span", { class: "art-sw", style: `background:${ORANGE}` }), `baseline #${base.artifact}`)
    : "";
  const baseBySplit = new Map(((base && base.datasets) || []).map((d) => [key(d), d]));
  return h("div", { class: "art-statistics" },
    h("div", { class: "filters" }, h("label", { for: "baseline" }, "Compare with "), chooser, legend),
    ...view.datasets.map((ds) => datasetTable(ds, base ? baseBySplit.get(key(ds)) || (base.datasets || []).find((d) => d.split === ds.split) : null)));
}
