// The pipelines page: every pipeline (/pipelines), one pipeline's versions and a version's IR
// graph, parameters and components (/pipelines/NAME?version=sha256:...).
import { get } from "../api.js";
import { h, append, clear, badge, link, fmtTime, fmtValue, errorBox } from "../dom.js";
import { renderGraph } from "../graph.js";

const short = (digest) => String(digest || "").replace(/^sha256:/, "").slice(0, 12);

async function list(main) {
  const { pipelines } = await get("/pipelines");
  main.append(h("h1", {}, "Pipelines"));
  if (!pipelines.length) {
    main.append(h("p", { class: "muted" }, "No pipeline has run yet: conveyor run pipeline.py"));
    return;
  }
  main.append(h("table", { class: "data pipelines" },
    h("thead", {}, h("tr", {}, ["pipeline", "versions", "runs", "last run", "state", "latest version"].map((c) => h("th", {}, c)))),
    h("tbody", {}, pipelines.map((p) => h("tr", { "data-name": p.name },
      h("td", {}, link(`/pipelines/${encodeURIComponent(p.name)}`, p.name)),
      h("td", { class: "num" }, String(p.versions)),
      h("td", { class: "num" }, p.runs ? link(`/runs?pipeline=${encodeURIComponent(p.name)}`, String(p.runs)) : "0"),
      h("td", {}, p.last_run ? [link(`/runs/${encodeURIComponent(p.last_run.id)}`, p.last_run.id), " ", h("span", { class: "muted" }, fmtTime(p.last_run.started_at))] : ""),
      h("td", {}, p.last_run ? badge(p.last_run.state) : ""),
      h("td", { class: "mono" }, p.latest_version ? link(`/pipelines/${encodeURIComponent(p.name)}?version=${encodeURIComponent(p.latest_version.digest)}`, short(p.latest_version.digest)) : ""),
    )))));
}

function paramTable(params) {
  const names = Object.keys(params || {});
  if (!names.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["parameter", "type", "default", "description"].map((c) => h("th", {}, c)))),
    h("tbody", {}, names.map((n) => {
      const p = params[n] || {};
      return h("tr", {}, h("td", {}, n), h("td", {}, p.type || ""), h("td", {}, "default" in p ? fmtValue(p.default) : h("span", { class: "muted" }, "required")), h("td", {}, p.description || ""));
    })));
}

function componentTable(components) {
  const names = Object.keys(components || {}).sort();
  return h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["component", "inputs", "outputs", "description"].map((c) => h("th", {}, c)))),
    h("tbody", {}, names.map((n) => {
      const c = components[n] || {};
      const ins = { ...(c.inputs?.parameters || {}), ...(c.inputs?.artifacts || {}) };
      const outs = { ...(c.outputs?.parameters || {}), ...(c.outputs?.artifacts || {}) };
      return h("tr", {}, h("td", {}, n), h("td", {}, Object.keys(ins).join(", ")), h("td", {}, Object.keys(outs).join(", ")),
        h("td", { class: "muted" }, String(c.description || "").split("\n")[0]));
    })));
}

async function detail(main, name, query) {
  const p = await get(`/pipelines/${encodeURIComponent(name)}`);
  const chosen = query.get("version") || (p.versions[0] && p.versions[0].digest);
  append(main, [h("h1", {}, "Pipeline ", name),
    p.description ? h("p", { class: "muted" }, p.description) : null,
    h("p", {}, link(`/runs?pipeline=${encodeURIComponent(name)}`, "runs of this pipeline"), " · ", link("/pipelines", "all pipelines"))]);
  main.append(h("h2", {}, "Versions"), h("table", { class: "data versions" },
    h("thead", {}, h("tr", {}, ["IR digest", "first run", "runs"].map((c) => h("th", {}, c)))),
    h("tbody", {}, p.versions.map((v) => h("tr", { class: v.digest === chosen ? "chosen" : "", "data-digest": v.digest },
      h("td", { class: "mono" }, link(`/pipelines/${encodeURIComponent(name)}?version=${encodeURIComponent(v.digest)}`, short(v.digest)), v.digest === chosen ? " ◀" : ""),
      h("td", {}, fmtTime(v.created_at)),
      h("td", { class: "num" }, String(v.runs)),
    )))));
  if (!chosen) return;
  const slot = h("div", { id: "pipeline-version" });
  main.append(slot);
  const expand = new Set(query.getAll("expand"));
  let graph = null;
  const openGroups = h("div", { class: "open-groups muted" });
  const toggle = (group) => {
    if (expand.has(group)) expand.delete(group); else expand.add(group);
    load().catch((err) => slot.append(errorBox(err)));
  };
  const load = async () => {
    const v = await get(`/pipelines/${encodeURIComponent(name)}/versions/${encodeURIComponent(chosen)}`, { expand: [...expand] });
    clear(openGroups);
    if (expand.size) {
      append(openGroups, ["open: ", [...expand].map((g) =>
        h("button", { type: "button", class: "chip", dataset: { collapse: g }, onclick: () => toggle(g) }, `${g} ✕`))]);
    }
    if (!graph) {
      const box = h("div", { class: "graph", id: "version-graph" });
      clear(slot).append(
        h("h2", {}, "Version ", h("span", { class: "mono" }, short(v.digest)), " ", h("span", { class: "muted" }, `IR ${v.ir_version} · ${Object.keys(v.tasks).length} tasks`)),
        openGroups,
        box,
        h("div", { class: "row" },
          h("div", { class: "grow card" }, h("h2", {}, "Parameters"), paramTable(v.parameters)),
          h("div", { class: "grow card" }, h("h2", {}, "Components"), componentTable(v.components))));
      graph = renderGraph(box, v.graph, {
        label: `graph of ${name}`,
        onSelect: (node) => { if (node.kind === "group" && node.group) toggle(node.group); },
      });
    } else graph.update(v.graph);
  };
  await load();
}

export async function render(main, { params, query }) {
  if (params.pipeline) await detail(main, params.pipeline, query);
  else await list(main);
}
