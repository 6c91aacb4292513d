// The compare page (/compare?runs=A&runs=B[&only=1]): runs side by side, one column per run,
// rows grouped by section (run, parameters, metrics, data, code), differing rows highlighted.
import { get } from "../api.js";
import { h, clear, badge, fmtValue, fmtDuration, errorBox, link } from "../dom.js";
import { useStyles } from "../chart.js";

const SECTION_TITLES = {
  run: "Run", parameter: "Parameters", metric: "Metrics", data: "Data digests", code: "Code fingerprints",
};
const MAX_RUNS = 20;

function pageUrl(runs, only) {
  const q = new URLSearchParams();
  for (const r of runs) q.append("runs", r);
  if (only) q.set("only", "1");
  return `/compare?${q}`;
}

function chartsUrl(runs) {
  const q = new URLSearchParams();
  for (const r of runs) q.append("runs", r);
  return `/charts?${q}`;
}

function cell(row, value) {
  if (value === null || value === undefined) return h("td", { class: "muted" }, "–");
  if (row.section === "run" && row.name === "state") return h("td", {}, badge(value));
  if (row.section === "run" && row.name === "duration_seconds") return h("td", { class: "num" }, fmtDuration(value));
  const text = fmtValue(value);
  const mono = row.section === "data" || row.section === "code" || row.name === "ir_digest";
  return h("td", { class: typeof value === "number" ? "num" : mono ? "mono" : undefined, title: text }, text);
}

export async function render(main, { query }) {
  useStyles();
  let runs = [...new Set(query.getAll("runs").filter(Boolean))];
  let only = ["1", "true"].includes(query.get("only") || query.get("only_differences") || "");
  let controller = null;

  const summary = h("span", { class: "muted" });
  const onlyBox = h("input", { type: "checkbox", id: "compare-only", checked: only });
  const addInput = h("input", { type: "text", id: "compare-add", placeholder: "run id", list: "compare-run-ids", size: 34 });
  const runIds = h("datalist", { id: "compare-run-ids" });
  const addButton = h("button", { type: "submit" }, "Add run");
  const chartsLink = h("a", { class: "button", href: chartsUrl(runs) }, "Metric charts of these runs");
  const body = h("div", {});
  main.append(
    h("h1", {}, "Compare runs"),
    h("form", { class: "filters", id: "compare-controls" },
      h("label", {}, onlyBox, " Only differences"),
      addInput, runIds, addButton, chartsLink, summary),
    body,
  );

  function go() {
    history.replaceState(null, "", pageUrl(runs, only));
    chartsLink.setAttribute("href", chartsUrl(runs));
    load();
  }

  onlyBox.addEventListener("change", () => { only = onlyBox.checked; go(); });
  addInput.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = addInput.value.trim();
    if (!id || runs.includes(id)) return;
    if (runs.length >= MAX_RUNS) { summary.textContent = `At most ${MAX_RUNS} runs at once.`; return; }
    runs = [...runs, id];
    addInput.value = "";
    go();
  });

  // Offer recent run ids to add (the runs list API; the page works without it).
  get("/runs", { limit: 50 }).then((data) => {
    for (const r of (data && data.runs) || []) runIds.append(h("option", { value: r.run_id }, r.pipeline || ""));
  }).catch(() => {});

  function header(columns) {
    return h("tr", {},
      h("th", {}, ""),
      columns.map((c) => h("th", { class: "compare-run", dataset: { run: c.run_id } },
        h("div", { class: "compare-run-head" },
          link(`/runs/${encodeURIComponent(c.run_id)}`, c.run_id),
          h("button", { type: "button", class: "icon remove-run", title: `Remove ${c.run_id}`,
            onclick: () => { runs = runs.filter((r) => r !== c.run_id); go(); } }, "×")),
        h("div", { class: "muted" }, c.pipeline || "", " ", c.state ? badge(c.state) : "",
          c.lifecycle ? badge(c.lifecycle) : ""))));
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    if (!runs.length) {
      summary.textContent = "";
      clear(body).append(h("p", { class: "muted" },
        "No runs chosen. Pick runs on the ", link("/runs", "runs page"), " or add run ids above."));
      return;
    }
    let data;
    try {
      data = await get("/compare", { runs, only_differences: only ? "true" : undefined }, { signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      clear(body).append(errorBox(err), runs.length ? h("p", {}, "Runs: ",
        runs.map((r) => h("span", { class: "chip" }, r, h("button", { type: "button", class: "icon",
          title: `Remove ${r}`, onclick: () => { runs = runs.filter((x) => x !== r); go(); } }, "×")))) : "");
      return;
    }
    summary.textContent = `${data.differing_rows} of ${data.total_rows} rows differ`;
    const rows = [];
    let section = null;
    for (const row of data.rows) {
      if (row.section !== section) {
        section = row.section;
        rows.push(h("tr", { class: "section" }, h("th", { colspan: data.columns.length + 1 }, SECTION_TITLES[section] || section)));
      }
      rows.push(h("tr", { class: row.differs ? "diff" : undefined, dataset: { section: row.section, name: row.name, differs: String(row.differs) } },
        h("th", { class: "name", scope: "row" }, row.differs ? "≠ " : "", row.name),
        row.values.map((v) => cell(row, v))));
    }
    const table = h("table", { class: "data compare" }, h("thead", {}, header(data.columns)), h("tbody", {}, rows));
    clear(body).append(rows.length ? h("div", { class: "compare-scroll" }, table)
      : h("p", { class: "muted" }, only ? "No differences between these runs." : "Nothing recorded for these runs."));
    if (!rows.length) body.prepend(h("table", { class: "data compare" }, h("thead", {}, header(data.columns))));
  }

  await load();
  return () => { if (controller) controller.abort(); };
}
