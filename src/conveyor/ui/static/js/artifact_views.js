// Typed views of artifacts other than statistics: schema, anomalies, evaluation, model card,
// data sample, model signature, metrics, documents (blessing, push) and file listings.
import { h, fmtValue, fmtBytes } from "./dom.js";
import { API } from "./api.js";

function table(columns, rows, cls = "") {
  return h("table", { class: `data ${cls}` },
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows));
}

function domain(f) {
  if (f.values) return f.values.join(", ") + (f.values_count > f.values.length ? ` … (${f.values_count})` : "");
  if (f.min !== null && f.min !== undefined || f.max !== null && f.max !== undefined) return `[${fmtValue(f.min)}, ${fmtValue(f.max)}]`;
  return "";
}

function schemaTable(features) {
  return table(["feature", "type", "presence", "domain", "comparators"], features.map((f) =>
    h("tr", { class: f.anomalous ? "art-anomalous" : "", "data-feature": f.name },
      h("td", {}, h("b", {}, f.name)), h("td", {}, f.type),
      h("td", { class: "num" }, `${Math.round((f.presence ?? 1) * 100)}%`),
      h("td", {}, domain(f)),
      h("td", {}, [f.drift_comparator ? "drift" : "", f.skew_comparator ? "skew" : ""].filter(Boolean).join(", ")))), "art-schema");
}

export function renderSchema(view) {
  return h("div", { class: "card" }, h("h2", {}, `Schema: ${view.features.length} features`), schemaTable(view.features));
}

export function renderAnomalies(view) {
  const out = h("div", {});
  if (!view.anomalies.length) out.append(h("div", { class: "card art-ok" }, "No anomalies."));
  else {
    out.append(h("div", { class: "card" }, h("h2", {}, `${view.anomalies.length} anomalies`),
      table(["feature", "severity", "anomaly", "description"], view.anomalies.map((a) =>
        h("tr", { class: a.highlighted ? "art-anomaly-error" : "art-anomaly-warning" },
          h("td", {}, h("b", {}, a.feature ?? "(dataset)")), h("td", {}, a.severity),
          h("td", {}, a.short_description, h("div", { class: "muted" }, a.reasons.join(", "))),
          h("td", {}, a.description))), "art-anomalies")));
  }
  if (view.drift_skew.length) {
    out.append(h("div", { class: "card" }, h("h2", {}, "Drift and skew"),
      table(["feature", "kind", "comparator", "value", "threshold"], view.drift_skew.map((d) =>
        h("tr", { class: d.value > d.threshold ? "art-anomaly-error" : "" },
          h("td", {}, d.feature), h("td", {}, d.kind), h("td", {}, d.comparator),
          h("td", { class: "num" }, fmtValue(d.value)), h("td", { class: "num" }, fmtValue(d.threshold)))))));
  }
  if (view.schema) out.append(h("div", { class: "card" }, h("h2", {}, "Schema (features hit in red)"), schemaTable(view.schema)));
  return out;
}

const HEADLINE = ["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rmse", "mae", "r2"];

function intervalBar(value, interval, lo, hi) {
  const W = 110, x = (v) => 4 + ((v - lo) / (hi - lo || 1)) * (W - 8);
  const parts = [h("line", { x1: 4, x2: W - 4, y1: 8, y2: 8, stroke: "#e4e7ec" })];
  if (interval) parts.push(h("line", { class: "art-interval", x1: x(interval[0]), x2: x(interval[1]), y1: 8, y2: 8, stroke: "#2f5fd0", "stroke-width": 4 }));
  if (typeof value === "number") parts.push(h("circle", { cx: x(value), cy: 8, r: 3, fill: "#1d2330" }));
  return h("svg", { width: W, height: 16, role: "img", "aria-label": "interval" }, ...parts,
    h("title", {}, interval ? `${fmtValue(value)} [${fmtValue(interval[0])}, ${fmtValue(interval[1])}]` : fmtValue(value)));
}

function decisionBox(b) {
  if (!b || b.blessed === undefined) return "";
  return h("div", { class: `card art-decision ${b.blessed ? "art-blessed" : "art-not-blessed"}` },
    h("b", {}, b.blessed ? "BLESSED" : "NOT BLESSED"), ` (${b.reason ?? ""})`,
    b.forced ? h("div", {}, `forced: ${b.force_reason ?? ""}`) : "",
    ...(b.failures || []).map((f) => h("div", { class: "art-anomaly-error" }, `failed: ${f.message}`)),
    ...(b.warnings || []).map((w) => h("div", {}, `warning: ${w.message}`)));
}

export function renderEvaluation(view) {
  const judged = (view.thresholds || []).map((t) => t.metric);
  const scalar = (m) => view.slices.some((s) => typeof s.metrics[m] === "number");
  const metrics = [...new Set([...judged, ...HEADLINE])].filter(scalar).slice(0, 6);
  const ranges = Object.fromEntries(metrics.map((m) => {
    const vals = view.slices.flatMap((s) => [s.metrics[m], ...(s.intervals[m] || [])]).filter((v) => typeof v === "number");
    return [m, [Math.min(...vals), Math.max(...vals)]];
  }));
  const rows = view.slices.map((s) => h("tr", { class: s.too_small ? "muted" : "", "data-slice": s.slice },
    h("td", {}, s.slice, s.too_small ? " (too small)" : ""), h("td", { class: "num" }, fmtValue(s.count)),
    ...metrics.map((m) => h("td", { class: "num" },
      fmtValue(s.metrics[m]), s.changes[m] ? ` (${s.changes[m].value >= 0 ? "+" : ""}${fmtValue(s.changes[m].value)})` : "",
      h("br"), intervalBar(s.metrics[m], s.intervals[m], ...ranges[m])))));
  const boot = view.bootstrap;
  return h("div", {},
    decisionBox(view.blessing),
    h("div", { class: "card" },
      h("h2", {}, `Evaluation of the ${view.task ?? ""} model on split ${view.split ?? ""}`),
      table(["slice", "rows", ...metrics], rows, "art-evaluation"),
      boot ? h("p", { class: "muted" }, `Bars: ${Math.round(boot.confidence * 100)}% bootstrap intervals, ${boot.resamples} resamples.`) : ""),
    view.thresholds && view.thresholds.length ? h("div", { class: "card" }, h("h2", {}, "Thresholds"),
      table(["metric", "rule", "slices"], view.thresholds.map((t) => h("tr", {}, h("td", {}, t.metric),
        h("td", {}, Object.entries(t).filter(([k]) => !["metric", "slices"].includes(k)).map(([k, v]) => `${k} ${fmtValue(v)}`).join(", ")),
        h("td", {}, (t.slices || ["overall"]).join(", ")))))) : "");
}

export function renderCard(view) {
  return h("div", { class: "card" },
    h("iframe", { class: "view art-card", sandbox: "", src: view.card_url, title: "model card", referrerpolicy: "no-referrer" }));
}

export function renderSample(view, onSplit) {
  const s = view.sample;
  const out = h("div", { class: "card" });
  if (s.splits && s.splits.length) {
    out.append(h("div", { class: "tabs" }, ...s.splits.map((name) =>
      h("button", { class: name === s.split ? "active" : "", onclick: () => onSplit(name) }, name))));
  }
  out.append(h("p", { class: "muted" }, `First ${s.rows.length} rows${s.file ? ` of ${s.file}` : ""}.`));
  out.append(h("div", { class: "art-scroll" }, table(s.columns.map((c) => h("span", {}, c.name, h("div", { class: "muted" }, c.type))),
    s.rows.map((r) => h("tr", {}, ...r.map((v) => h("td", { class: typeof v === "number" ? "num" : "" }, v === null ? h("span", { class: "muted" }, "null") : fmtValue(v))))), "art-sample")));
  return out;
}

export function renderModel(view) {
  const m = view.manifest || {};
  const sig = m.signature || {};
  const kv = h("dl", { class: "kv" });
  for (const k of ["framework", "framework_version", "task", "label", "classes", "model_file"]) {
    if (m[k] !== undefined) kv.append(h("dt", {}, k), h("dd", {}, Array.isArray(m[k]) ? m[k].join(", ") : fmtValue(m[k])));
  }
  const io = (list) => table(["name", "type", "values / shape"], (list || []).map((f) =>
    h("tr", {}, h("td", {}, f.name), h("td", {}, f.type), h("td", {}, f.values ? f.values.join(", ") : f.shape ? JSON.stringify(f.shape) : ""))));
  return h("div", {}, h("div", { class: "card" }, h("h2", {}, "Model"), kv),
    h("div", { class: "card" }, h("h2", {}, "Signature: inputs"), io(sig.inputs), h("h2", {}, "outputs"), io(sig.outputs)));
}

export function renderMetrics(view) {
  return h("div", { class: "card" }, table(["metric", "value"], Object.entries(view.values).map(([k, v]) =>
    h("tr", {}, h("td", {}, k), h("td", { class: "num" }, fmtValue(v)))), "art-metrics"));
}

export function renderDocument(view) {
  const doc = view.document || {};
  const kv = h("dl", { class: "kv" });
  for (const [k, v] of Object.entries(doc)) kv.append(h("dt", {}, k), h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : fmtValue(v)));
  return h("div", {}, decisionBox(doc.blessed !== undefined ? doc : null), h("div", { class: "card" }, kv));
}

export function renderFiles(id, files, truncated) {
  return h("div", { class: "card" }, h("h2", {}, "Files"),
    table(["path", "size"], files.map((f) => h("tr", {},
      h("td", {}, h("a", { href: `${API}/artifacts/${id}/download?path=${encodeURIComponent(f.path)}`, download: f.path.split("/").pop() }, f.path)),
      h("td", { class: "num" }, fmtBytes(f.size)))), "art-files"),
    truncated ? h("p", { class: "muted" }, "Listing cut short.") : "");
}
