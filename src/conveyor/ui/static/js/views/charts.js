// The metric charts page (/charts?runs=A&runs=B&name=loss): one chart per metric, the runs
// overlaid, TensorBoard-like controls (smoothing, x = step or relative time, log y) kept in the
// URL. Points come downsampled from the server (min/max per bucket: spikes survive).
import { get } from "../api.js";
import { h, clear, errorBox, link } from "../dom.js";
import { lineChart, COLORS, useStyles } from "../chart.js";

const MAX_POINTS = 1000;

export async function render(main, { query }) {
  useStyles();
  const runs = [...new Set(query.getAll("runs").filter(Boolean))];
  let chosen = query.getAll("name");
  let smoothing = Math.min(0.999, Math.max(0, Number(query.get("smoothing") || 0.6) || 0));
  let xTime = query.get("x") === "time";
  let logY = ["1", "true"].includes(query.get("log") || "");
  let charts = [];
  let controller = null;

  main.append(h("h1", {}, "Metric charts"));
  if (!runs.length) {
    main.append(h("p", { class: "muted" }, "No runs chosen. Pick runs on the ", link("/runs", "runs page"),
      " or open /charts?runs=RUN_A&runs=RUN_B."));
    return undefined;
  }

  const colorOf = new Map(runs.map((r, i) => [r, COLORS[i % COLORS.length]]));
  const slider = h("input", { type: "range", id: "chart-smoothing", min: 0, max: 0.99, step: 0.01, value: smoothing });
  const sliderValue = h("span", { class: "num" }, smoothing.toFixed(2));
  const xSelect = h("select", { id: "chart-x" }, h("option", { value: "step" }, "step"), h("option", { value: "time" }, "relative time"));
  xSelect.value = xTime ? "time" : "step";
  const logBox = h("input", { type: "checkbox", id: "chart-log", checked: logY });
  const namesBox = h("div", { class: "metric-names", id: "chart-names" });
  const legend = h("div", { class: "legend", id: "chart-legend" },
    runs.map((r) => h("span", { class: "legend-item" },
      h("span", { class: "swatch", style: `background:${colorOf.get(r)}` }), link(`/runs/${encodeURIComponent(r)}`, r))));
  const grid = h("div", { class: "charts-grid" });
  const compareQuery = new URLSearchParams(runs.map((r) => ["runs", r]));
  main.append(
    h("div", { class: "filters" },
      h("label", { for: "chart-smoothing" }, "Smoothing"), slider, sliderValue,
      h("label", { for: "chart-x" }, "x axis"), xSelect,
      h("label", {}, logBox, " log scale y"),
      h("a", { class: "button", href: `/compare?${compareQuery}` }, "Compare these runs")),
    legend, namesBox, grid);

  function keepUrl() {
    const q = new URLSearchParams();
    for (const r of runs) q.append("runs", r);
    for (const n of chosen) q.append("name", n);
    q.set("smoothing", smoothing.toFixed(2));
    if (xTime) q.set("x", "time");
    if (logY) q.set("log", "1");
    history.replaceState(null, "", `/charts?${q}`);
  }

  // Every metric name the runs logged (one request per run, in parallel).
  const listed = await Promise.all(runs.map((r) => get(`/runs/${encodeURIComponent(r)}/metrics`)
    .then((d) => d.metrics).catch((err) => ({ error: err, run: r }))));
  const failed = listed.filter((l) => l && l.error);
  for (const f of failed) main.insertBefore(errorBox(`${f.run}: ${f.error.message}`), legend);
  const names = [...new Set(listed.filter(Array.isArray).flat().map((m) => m.name))].sort();
  if (!names.length) {
    grid.append(h("p", { class: "muted" }, "These runs logged no metrics (conveyor.log_metric)."));
    return undefined;
  }
  if (!chosen.length) chosen = names.slice(0, 12);
  chosen = chosen.filter((n) => names.includes(n));

  function renderNames() {
    clear(namesBox).append(h("span", { class: "muted" }, "Metrics: "), ...names.map((n) => {
      const box = h("input", { type: "checkbox", checked: chosen.includes(n), dataset: { name: n } });
      box.addEventListener("change", () => {
        chosen = box.checked ? names.filter((x) => x === n || chosen.includes(x)) : chosen.filter((x) => x !== n);
        keepUrl();
        load();
      });
      return h("label", { class: "metric-name" }, box, " ", n);
    }));
  }

  function destroyCharts() { for (const c of charts) c.destroy(); charts = []; }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    destroyCharts();
    if (!chosen.length) {
      clear(grid).append(h("p", { class: "muted" }, "Choose metrics to chart."));
      return;
    }
    clear(grid).append(h("p", { class: "muted" }, "Loading…"));
    let data;
    try {
      data = await get("/metrics/series", { runs, name: chosen, max_points: MAX_POINTS, x: xTime ? "time" : "step" },
        { signal: controller.signal });
    } catch (err) {
      if (err.name !== "AbortError") clear(grid).append(errorBox(err));
      return;
    }
    const receivedAt = performance.now();
    clear(grid);
    for (const name of chosen) {
      const series = [];
      let raw = 0;
      for (const run of data.runs) {
        const s = run.series[name];
        if (!s) continue;
        raw += s.count;
        series.push({ label: run.run_id, color: colorOf.get(run.run_id), x: xTime ? s.time : s.step, y: s.value });
      }
      const card = h("div", { class: "card chart-card", dataset: { metric: name } },
        h("div", { class: "chart-title" }, h("strong", {}, name),
          h("span", { class: "muted" }, ` ${series.length} run${series.length === 1 ? "" : "s"}, ${raw} points logged`)));
      grid.append(card);
      charts.push(lineChart(card, series, { smoothing, logY, xTime, receivedAt }));
    }
  }

  slider.addEventListener("input", () => {
    smoothing = Number(slider.value);
    sliderValue.textContent = smoothing.toFixed(2);
    for (const c of charts) c.update({ smoothing });
  });
  slider.addEventListener("change", keepUrl);
  logBox.addEventListener("change", () => {
    logY = logBox.checked;
    keepUrl();
    for (const c of charts) c.update({ logY });
  });
  xSelect.addEventListener("change", () => {
    xTime = xSelect.value === "time";
    keepUrl();
    load();
  });

  renderNames();
  keepUrl();
  await load();
  return () => { if (controller) controller.abort(); destroyCharts(); };
}
