// The lineage page: the graph of artifacts and executions around one artifact or execution
// (upstream, downstream or both, to a depth), drawn by graph.js; a click on an artifact opens
// its page, on an execution its run.
import { h, link } from "../dom.js";
import { get } from "../api.js";
import { renderGraph } from "../graph.js";

const DIRECTIONS = ["upstream", "downstream", "both"];

export async function render(main, { params, query }) {
  const kind = params.kind, id = params.id;
  const direction = DIRECTIONS.includes(query.get("direction")) ? query.get("direction") : "both";
  const depth = Math.max(1, Math.min(10, Number(query.get("depth")) || 3));
  const here = (d, n) => `/lineage/${kind}/${id}?direction=${d}&depth=${n}`;
  const graph = await get(`/lineage/${kind === "artifact" ? "artifacts" : "executions"}/${id}`, { direction, depth });
  const depthSelect = h("select", { id: "lineage-depth", "aria-label": "depth" },
    ...[1, 2, 3, 5, 10].map((n) => h("option", { value: n, selected: n === depth ? true : undefined }, `depth ${n}`)));
  depthSelect.addEventListener("change", () => window.conveyorNavigate(here(direction, depthSelect.value)));
  main.append(
    h("h1", {}, "Lineage of ", kind === "artifact" ? link(`/artifacts/${id}`, `artifact #${id}`) : `execution #${id}`),
    h("div", { class: "filters" },
      h("div", { class: "tabs lineage-direction" }, ...DIRECTIONS.map((d) =>
        h("button", { class: d === direction ? "active" : "", "data-direction": d, onclick: () => window.conveyorNavigate(here(d, depth)) }, d))),
      depthSelect,
      h("span", { class: "muted" }, `${graph.nodes.length} nodes, ${graph.edges.length} edges`),
      graph.truncated ? h("span", { class: "error lineage-truncated" }, `Cut to the ${graph.max_nodes} nodes nearest the focus; lower the depth.`) : ""));
  const box = h("div", { class: "graph lineage-graph" });
  main.append(box, h("p", { class: "muted" }, "Click an artifact to open it, an execution to open its run."));
  renderGraph(box, { nodes: graph.nodes, edges: graph.edges }, {
    label: "lineage",
    selected: graph.focus,
    onSelect: (n) => { if (n.href) window.conveyorNavigate(n.href); },
  });
}
