// The run page: header with the actions, the graph (live while the run runs), a side panel
// for the chosen task (cache decision, inputs and outputs, error, its log tailed), the tasks.
import { get, ApiError } from "../api.js";
import { h, append, clear, badge, link, fmtTime, fmtDuration, fmtBytes, fmtValue, errorBox } from "../dom.js";
import { renderGraph } from "../graph.js";
import { actionBar } from "../actions.js";

const POLL_MS = 1000;
const STARTING_MS = 30000;
const FINAL = new Set(["COMPLETE", "FAILED", "CACHED", "CANCELED", "SKIPPED"]);

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function paramsTable(params) {
  const keys = Object.keys(params || {});
  if (!keys.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "data params" },
    h("tbody", {}, keys.sort().map((k) => h("tr", {}, h("th", {}, k), h("td", {}, fmtValue(params[k]))))));
}

function artifactRows(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "data artifacts" },
    h("thead", {}, h("tr", {}, ["key", "artifact", "type", "size", "digest", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((a) => h("tr", {},
      h("td", {}, a.key),
      h("td", {}, link(`/artifacts/${a.artifact_id}`, a.name || `#${a.artifact_id}`)),
      h("td", {}, String(a.type || "").replace(/^conveyor\./, "")),
      h("td", { class: "num" }, fmtBytes(a.size_bytes)),
      h("td", { class: "mono", title: a.digest || "" }, (a.digest || "").slice(0, 19)),
      h("td", {}, link(`/lineage/artifact/${a.artifact_id}`, "lineage")),
    ))));
}

function cacheText(task) {
  const c = task.cache || {};
  const decision = c.decision === "ran" ? "ran" : c.decision === "CACHED" ? "cached" : (c.decision || "").toLowerCase();
  return [decision, c.reason || task.reason].filter(Boolean).join(": ");
}

/** The side panel of one task: its newest execution (or what the graph node says). */
function TaskPanel(runId) {
  const el = h("aside", { class: "card task-panel", id: "task-panel" }, h("p", { class: "muted" }, "Click a task in the graph or the table."));
  let tail = null; // {execution, offset, timer, pre}
  const stopTail = () => { if (tail && tail.timer) clearTimeout(tail.timer); tail = null; };
  const pump = async () => {
    const t = tail;
    if (!t) return;
    try {
      const slice = await get(`/runs/${encodeURIComponent(runId)}/logs/${t.execution}`, { offset: t.offset });
      if (tail !== t) return;
      if (slice.text) t.pre.append(slice.text);
      t.offset = slice.offset;
      if (slice.text) t.pre.scrollTop = t.pre.scrollHeight;
      if (slice.complete) {
        t.pre.dataset.complete = "1";
        if (!t.pre.textContent) t.pre.textContent = "(empty log)";
        tail = null;
        return;
      }
      t.timer = setTimeout(pump, slice.offset < slice.size ? 50 : POLL_MS);
    } catch (err) {
      if (tail === t) { t.pre.append(`\n[${err.message}]`); tail = null; }
    }
  };
  return {
    el,
    stop: stopTail,
    show(task, node) {
      const same = tail && task && tail.execution === task.execution_id;
      if (same) return this.refresh(task);
      stopTail();
      clear(el);
      if (!task) {
        append(el, [h("h2", {}, node.label), node.state ? badge(node.state) : null,
          h("p", { class: "muted" }, node.kind === "group" ? node.sublabel || "" : "Not run yet."),
          node.title ? h("p", { class: "muted pre" }, node.title) : null]);
        return;
      }
      el.dataset.execution = task.execution_id;
      append(el, [
        h("h2", {}, task.name, " ", h("span", { class: "state-slot" }, badge(task.state))),
        h("div", { class: "facts" }),
        h("h3", {}, "Parameters"), paramsTable(task.parameters),
        Object.keys(task.values || {}).length ? [h("h3", {}, "Output values"), paramsTable(task.values)] : null,
        h("h3", {}, "Inputs"), artifactRows(task.inputs || []),
        h("h3", {}, "Outputs"), artifactRows(task.outputs || []),
        task.error ? [h("h3", {}, "Error"), h("p", { class: "error" }, `${task.error.type}: ${task.error.message}`),
          task.error.traceback ? h("pre", { class: "log traceback" }, task.error.traceback) : null] : null,
        h("h3", {}, "Log"),
      ]);
      this.facts(task);
      const pre = h("pre", { class: "log", id: "task-log" });
      el.append(pre);
      if (task.has_log) { tail = { execution: task.execution_id, offset: 0, timer: null, pre }; pump(); }
      else pre.textContent = "(no log)";
    },
    facts(task) {
      const slot = el.querySelector(".facts");
      if (!slot) return;
      clear(slot).append(kv([
        ["task", task.task !== task.name ? task.task : null],
        ["component", task.component],
        ["started", fmtTime(task.started_at)],
        ["duration", fmtDuration(task.duration_seconds)],
        ["cache", h("span", { class: "cache-reason" }, cacheText(task))],
        ["cache key", task.cache && task.cache.key ? h("span", { class: "mono" }, task.cache.key.slice(0, 23) + "…") : null],
        ["attempts", task.attempts && task.attempts.length > 1 ? String(task.attempts.length) : null],
        ["lineage", link(`/lineage/execution/${task.execution_id}`, `execution ${task.execution_id}`)],
      ]));
    },
    refresh(task) {
      if (!task || String(el.dataset.execution) !== String(task.execution_id)) return;
      const slot = el.querySelector(".state-slot");
      if (slot) clear(slot).append(badge(task.state));
      this.facts(task);
      if (!tail && task.has_log && FINAL.has(task.state) === false) {
        const pre = el.querySelector("#task-log");
        if (pre && !pre.dataset.complete) { tail = { execution: task.execution_id, offset: new TextEncoder().encode(pre.textContent).length, timer: null, pre }; pump(); }
      }
    },
  };
}

function taskTable(tasks, onPick) {
  const rows = tasks.filter((t) => t.latest);
  return h("table", { class: "data tasks" },
    h("thead", {}, h("tr", {}, ["task", "state", "started", "duration", "cache"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((t) => {
      const tr = h("tr", { "data-name": t.name, class: "clickable" },
        h("td", {}, t.label && t.label !== t.name ? [t.label, " ", h("span", { class: "muted" }, `(${t.name})`)] : t.name),
        h("td", {}, badge(t.state)), h("td", {}, fmtTime(t.started_at)),
        h("td", { class: "num" }, fmtDuration(t.duration_seconds)), h("td", {}, cacheText(t)));
      tr.addEventListener("click", () => onPick(t));
      return tr;
    })));
}

function header(run, onDone) {
  const pipe = run.pipeline ? link(`/pipelines/${encodeURIComponent(run.pipeline)}${run.ir_digest ? `?version=${encodeURIComponent(run.ir_digest)}` : ""}`, run.pipeline) : null;
  const detail = { ...run, run, tasks: run._tasks };
  return h("div", { class: "card run-header" },
    h("div", { class: "row" },
      h("h1", { class: "grow" }, run.id, " ", h("span", { id: "run-state" }, badge(run.state)),
        run.lifecycle && run.lifecycle !== "active" ? [" ", badge(run.lifecycle)] : null),
      actionBar(detail, { onDone })),
    kv([
      ["pipeline", pipe],
      ["experiment", run.experiment ? link(`/runs?experiment=${encodeURIComponent(run.experiment)}`, run.experiment) : null],
      ["started", fmtTime(run.started_at)],
      ["finished", fmtTime(run.finished_at)],
      ["duration", h("span", { id: "run-duration" }, fmtDuration(run.duration_seconds))],
      ["host", run.host],
      ["started from", run.source ? `${run.source.target} in ${run.source.cwd}` : null],
      ["IR", run.ir_digest ? h("span", { class: "mono" }, run.ir_digest.slice(0, 23) + "…") : null],
      ["metrics", link(`/charts?runs=${encodeURIComponent(run.id)}`, "metric charts")],
    ]),
    run.error ? h("p", { class: "error" }, fmtValue(run.error)) : null,
  );
}

export async function render(main, { params, query }) {
  const runId = params.run;
  let alive = true;
  let timer = null;
  const starting = query.get("starting") === "1";
  const expand = new Set(query.getAll("expand"));
  let limit = 200;
  let graph = null, detail = null, panelTask = null;
  const status = h("p", { class: "muted", id: "run-status" }, "Loading…");
  main.append(status);

  const fetchRun = async () => {
    const deadline = Date.now() + (starting ? STARTING_MS : 0);
    for (;;) {
      try { return await get(`/runs/${encodeURIComponent(runId)}`); }
      catch (err) {
        if (!(err instanceof ApiError && err.status === 404) || Date.now() > deadline || !alive) throw err;
        status.textContent = `Run ${runId} is starting…`;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const graphQuery = () => ({ expand: [...expand], limit });

  try { detail = await fetchRun(); }
  catch (err) { clear(main).append(errorBox(err)); return () => { alive = false; }; }
  if (!alive) return;
  clear(main);

  const headSlot = h("div", {});
  const panel = TaskPanel(runId);
  const graphBox = h("div", { class: "graph run-graph", id: "run-graph" });
  const openGroups = h("div", { class: "open-groups muted" });
  const tableSlot = h("div", {});
  const paramSlot = h("div", {});
  main.append(headSlot,
    h("div", { class: "row run-body" },
      h("div", { class: "grow" }, h("h2", {}, "Graph"), openGroups, graphBox),
      panel.el),
    h("div", { class: "row" },
      h("div", { class: "grow card" }, h("h2", {}, "Tasks"), h("div", { class: "table-scroll" }, tableSlot)),
      h("div", { class: "card params-card" }, h("h2", {}, "Parameters"), paramSlot)));

  const byExecution = () => new Map(detail.tasks.map((t) => [t.execution_id, t]));
  const latestByName = () => new Map(detail.tasks.filter((t) => t.latest).map((t) => [t.name, t]));
  const toggle = (group) => {
    if (expand.has(group)) expand.delete(group); else expand.add(group);
    const url = new URL(location.href);
    url.searchParams.delete("expand");
    for (const g of expand) url.searchParams.append("expand", g);
    history.replaceState(null, "", url.pathname + url.search);
    return reloadGraph();
  };
  const drawOpenGroups = () => {
    clear(openGroups);
    if (!expand.size) return;
    append(openGroups, ["open: ", [...expand].map((g) =>
      h("button", { type: "button", class: "chip", dataset: { collapse: g }, title: `Close ${g}`, onclick: () => toggle(g) }, `${g} ✕`))]);
  };
  const pick = (node) => {
    if (node.kind === "group" && node.more) { limit += 200; return reloadGraph(); }
    if (node.kind === "group" && node.group) return toggle(node.group);
    const task = (node.execution_id && byExecution().get(node.execution_id)) || latestByName().get(node.id);
    panelTask = task ? task.name : null;
    panel.show(task, node);
  };
  const drawStatic = () => {
    detail.run._tasks = detail.tasks;
    clear(headSlot).append(header(detail.run, () => refresh()));
    clear(tableSlot).append(taskTable(detail.tasks, (t) => {
      panelTask = t.name;
      if (graph) graph.select(t.name);
      panel.show(t, { label: t.name });
    }));
    clear(paramSlot).append(paramsTable(detail.run.parameters));
  };
  async function reloadGraph() {
    try {
      const g = await get(`/runs/${encodeURIComponent(runId)}/graph`, graphQuery());
      if (!alive) return;
      drawOpenGroups();
      if (graph) graph.update(g);
      else graph = renderGraph(graphBox, g, { onSelect: pick, label: `graph of run ${runId}` });
    } catch (err) { clear(graphBox).append(errorBox(err)); }
  }
  async function refresh() {
    try {
      const [d, g] = await Promise.all([
        get(`/runs/${encodeURIComponent(runId)}`),
        get(`/runs/${encodeURIComponent(runId)}/graph`, graphQuery()),
      ]);
      if (!alive) return;
      detail = d;
      drawStatic();
      if (graph) graph.update(g);
      if (panelTask) panel.refresh(latestByName().get(panelTask));
    } catch (err) { console.error(err); }
    // a run retried in place, or one that just began, is live again: poll it
    if (alive && !timer && !polling && detail.run.state === "RUNNING") timer = setTimeout(poll, POLL_MS);
  }
  let polling = false;
  const poll = async () => {
    timer = null;
    if (!alive) return;
    polling = true;
    try { await refresh(); } finally { polling = false; }
    if (alive && !timer && detail.run.state === "RUNNING") timer = setTimeout(poll, POLL_MS);
  };

  drawStatic();
  await reloadGraph();
  if (detail.run.state === "RUNNING") timer = setTimeout(poll, POLL_MS);
  return () => {
    alive = false;
    if (timer) clearTimeout(timer);
    panel.stop();
  };
}
