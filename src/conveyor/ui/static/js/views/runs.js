// The runs list: filters, sort and page in the URL's query string (a link reproduces the view,
// the back button undoes a change), chosen parameter and metric columns, runs selected for
// /compare, and a light refresh while a listed run is RUNNING.
import { get } from "../api.js";
import { badge, clear, errorBox, fmtDuration, fmtTime, fmtValue, h, link } from "../dom.js";

const STATES = ["RUNNING", "COMPLETE", "FAILED", "CANCELED"];
const LIFECYCLES = ["active", "archived", "deleted", "all"];
const PAGE_SIZES = [25, 50, 100, 200];
const REFRESH_MS = 3000;
const DEFAULT_COLUMNS = 4; // of each kind, when the URL names none

function go(href) {
  window.conveyorNavigate(href);
}

/** The page's URL with some query keys replaced (arrays: repeated keys; "" or []: removed). */
function hrefWith(query, changes, { keepOffset = false } = {}) {
  const next = new URLSearchParams(query);
  if (!keepOffset) next.delete("offset");
  for (const [key, value] of Object.entries(changes)) {
    next.delete(key);
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") next.append(key, String(item));
    }
  }
  const qs = next.toString();
  return `/runs${qs ? "?" + qs : ""}`;
}

/** A datetime-local value (the browser's zone) as epoch seconds for the API. */
function epoch(value) {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? String(ms / 1000) : value;
}

function splitPredicates(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The API query of the page's URL. */
function apiQuery(query) {
  return {
    pipeline: query.get("pipeline") || undefined,
    experiment: query.get("experiment") || undefined,
    state: query.getAll("state"),
    since: epoch(query.get("since")),
    until: epoch(query.get("until")),
    lifecycle: query.get("lifecycle") || undefined,
    param: query.getAll("param"),
    metric: query.getAll("metric"),
    q: query.get("q") || undefined,
    sort: query.get("sort") || undefined,
    limit: query.get("limit") || undefined,
    offset: query.get("offset") || undefined,
  };
}

function filterBar(query, experiments) {
  const field = (name, attrs) => h("input", { name, value: query.get(name) || "", ...attrs });
  const states = new Set(query.getAll("state"));
  const form = h("form", { class: "filters", id: "run-filters" },
    field("q", { placeholder: "run id", size: 14, "aria-label": "run id contains" }),
    field("pipeline", { placeholder: "pipeline", size: 12, "aria-label": "pipeline" }),
    field("experiment", { placeholder: "experiment", size: 12, list: "experiment-names", "aria-label": "experiment" }),
    h("datalist", { id: "experiment-names" }, experiments.map((name) => h("option", { value: name }))),
    h("span", { class: "states" }, STATES.map((state) => h("label", {},
      h("input", { type: "checkbox", name: "state", value: state, checked: states.has(state) }), " ", state.toLowerCase()))),
    h("label", {}, "from ", field("since", { type: "datetime-local" })),
    h("label", {}, "to ", field("until", { type: "datetime-local" })),
    field("param", { placeholder: "params: lr>=0.01, opt=adam", size: 24, value: query.getAll("param").join(", "), "aria-label": "parameter filters" }),
    field("metric", { placeholder: "metrics: auc>0.9", size: 18, value: query.getAll("metric").join(", "), "aria-label": "metric filters" }),
    h("select", { name: "lifecycle", "aria-label": "lifecycle" }, LIFECYCLES.map((value) =>
      h("option", { value, selected: (query.get("lifecycle") || "active") === value }, value))),
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("button", { type: "button", onclick: () => go("/runs") }, "Clear"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const lifecycle = data.get("lifecycle");
    go(hrefWith(query, {
      q: data.get("q").trim(),
      pipeline: data.get("pipeline").trim(),
      experiment: data.get("experiment").trim(),
      state: data.getAll("state"),
      since: data.get("since"),
      until: data.get("until"),
      param: splitPredicates(data.get("param")),
      metric: splitPredicates(data.get("metric")),
      lifecycle: lifecycle === "active" ? "" : lifecycle,
    }));
  });
  return form;
}

/** The columns shown: the URL's `col` keys, else the first few of the page's names. */
function chosenColumns(query, columns) {
  const asked = query.getAll("col");
  if (asked.length) return asked.filter((c) => c !== "none");
  return [
    ...columns.parameters.slice(0, DEFAULT_COLUMNS).map((n) => `param:${n}`),
    ...columns.metrics.slice(0, DEFAULT_COLUMNS).map((n) => `metric:${n}`),
  ];
}

function columnPicker(query, columns, shown) {
  const boxes = [];
  const group = (label, kind, names) => names.length ? h("div", {}, h("strong", {}, label, " "),
    names.map((name) => {
      const box = h("input", { type: "checkbox", value: `${kind}:${name}`, checked: shown.includes(`${kind}:${name}`) });
      boxes.push(box);
      return h("label", { class: "column-choice" }, box, " ", name, " ");
    })) : null;
  const apply = h("button", { type: "button", onclick: () => {
    const picked = boxes.filter((b) => b.checked).map((b) => b.value);
    go(hrefWith(query, { col: picked.length ? picked : ["none"] }, { keepOffset: true }));
  } }, "Show columns");
  return h("details", { class: "columns" }, h("summary", {}, "Columns"),
    group("parameters", "param", columns.parameters), group("metrics", "metric", columns.metrics), apply);
}

function header(query, label, key, attrs = {}) {
  const sort = query.get("sort") || "-started_at";
  const active = sort === key || sort === `-${key}`;
  const descending = sort.startsWith("-");
  const next = active && descending ? key : `-${key}`;
  const arrow = active ? (descending ? " ▼" : " ▲") : "";
  return h("th", { class: "sortable", dataset: { sort: key }, title: `sort by ${key}`, ...attrs,
    onclick: () => go(hrefWith(query, { sort: next === "-started_at" ? "" : next })) }, label, arrow);
}

function tasksCell(run) {
  const done = Object.entries(run.task_states || {})
    .filter(([state]) => state === "COMPLETE" || state === "CACHED")
    .reduce((sum, [, n]) => sum + n, 0);
  return run.tasks ? `${done}/${run.tasks}` : "";
}

function duration(run) {
  if (run.duration_seconds !== null && run.duration_seconds !== undefined) return fmtDuration(run.duration_seconds);
  if (run.state === "RUNNING" && run.started_at) return fmtDuration(Date.now() / 1000 - run.started_at) + " …";
  return "";
}

function table(query, page, shown, selected, onSelect) {
  const cell = (run, column) => {
    const [kind, ...rest] = column.split(":");
    const name = rest.join(":");
    const value = kind === "param" ? run.parameters[name] : run.metrics[name];
    return h("td", { class: typeof value === "number" ? "num" : "" }, fmtValue(value));
  };
  const head = h("tr", {},
    h("th", {}, ""),
    header(query, "run", "run_id"),
    header(query, "pipeline", "pipeline"),
    h("th", {}, "experiment"),
    header(query, "state", "state"),
    header(query, "started", "started_at"),
    header(query, "duration", "duration"),
    h("th", {}, "tasks"),
    shown.map((column) => header(query, column.replace(/^param:/, "").replace(/^metric:/, ""), column,
      { class: `sortable ${column.startsWith("metric:") ? "metric" : "param"}` })),
  );
  const rows = page.runs.map((run) => h("tr", { dataset: { run: run.run_id } },
    h("td", {}, h("input", { type: "checkbox", "aria-label": `select ${run.run_id}`, checked: selected.has(run.run_id),
      onchange: (ev) => onSelect(run.run_id, ev.target.checked) })),
    h("td", {}, link(`/runs/${encodeURIComponent(run.run_id)}`, run.run_id)),
    h("td", {}, run.pipeline ? link(hrefWith(query, { pipeline: run.pipeline }), run.pipeline) : ""),
    h("td", {}, run.experiment ? link(hrefWith(query, { experiment: run.experiment }), run.experiment) : ""),
    h("td", {}, badge(run.state), run.lifecycle ? [" ", badge(run.lifecycle)] : null),
    h("td", {}, fmtTime(run.started_at)),
    h("td", { class: "num" }, duration(run)),
    h("td", { class: "num" }, tasksCell(run)),
    shown.map((column) => cell(run, column)),
  ));
  if (!rows.length) {
    rows.push(h("tr", {}, h("td", { colspan: 8 + shown.length, class: "muted" }, "No runs match these filters.")));
  }
  return h("table", { class: "data runs" }, h("thead", {}, head), h("tbody", {}, rows));
}

function pager(query, page) {
  const { total, limit, offset } = page;
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + limit, total);
  return h("div", { class: "pager" },
    h("span", { class: "total" }, `${total} run${total === 1 ? "" : "s"}`),
    h("span", { class: "muted" }, total ? `showing ${first}–${last}` : ""),
    h("button", { type: "button", class: "prev", disabled: offset <= 0,
      onclick: () => go(hrefWith(query, { offset: Math.max(0, offset - limit) || "" }, { keepOffset: true })) }, "‹ Prev"),
    h("button", { type: "button", class: "next", disabled: offset + limit >= total,
      onclick: () => go(hrefWith(query, { offset: offset + limit }, { keepOffset: true })) }, "Next ›"),
    h("label", {}, "page size ", h("select", { class: "page-size", onchange: (ev) => go(hrefWith(query, { limit: ev.target.value })) },
      PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, n)))),
  );
}

export async function render(main, { query }) {
  const selected = new Set();
  const compare = h("button", { type: "button", class: "compare", disabled: true,
    onclick: () => go(`/compare?${[...selected].map((id) => `runs=${encodeURIComponent(id)}`).join("&")}`) }, "Compare");
  const onSelect = (runId, on) => {
    if (on) selected.add(runId); else selected.delete(runId);
    compare.disabled = selected.size < 2;
    compare.textContent = selected.size ? `Compare (${selected.size})` : "Compare";
  };
  const controller = new AbortController();
  const names = get("/experiments", {}, { signal: controller.signal }).then((b) => b.experiments.map((e) => e.name), () => []);
  let page;
  try {
    page = await get("/runs", apiQuery(query), { signal: controller.signal });
  } catch (err) {
    // a bad filter in the URL: keep the filters on screen so that it can be corrected
    main.append(h("h1", {}, "Runs"), filterBar(query, await names), errorBox(err));
    return () => controller.abort();
  }
  const body = h("div", { class: "runs-body" });
  const draw = (current) => {
    const shown = chosenColumns(query, current.columns);
    clear(body).append(pager(query, current), table(query, current, shown, selected, onSelect), pager(query, current));
  };
  main.append(
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Runs"), compare),
    filterBar(query, await names),
    columnPicker(query, page.columns, chosenColumns(query, page.columns)),
    body,
  );
  draw(page);

  let timer = null;
  const refresh = async () => {
    try {
      const current = await get("/runs", apiQuery(query), { signal: controller.signal });
      draw(current);
      schedule(current);
    } catch (err) {
      if (err.name !== "AbortError") body.prepend(errorBox(err));
    }
  };
  const schedule = (current) => {
    timer = current.runs.some((r) => r.state === "RUNNING") ? setTimeout(refresh, REFRESH_MS) : null;
  };
  schedule(page);
  return () => {
    if (timer) clearTimeout(timer);
    controller.abort();
  };
}
