// Directed graphs drawn as SVG: a layered layout (longest-path layers, barycenter ordering),
// done here so that the API sends only nodes and edges.
//
// graph = { nodes: [{id, label, sublabel?, state?, kind?, href?}], edges: [{source, target}] }
// kind: "task" (default), "group" (a loop or parallel-for, collapsed), "artifact", "execution";
// state: an execution state (COMPLETE, RUNNING, ...), which colours the node.
import { h, clear } from "./dom.js";

const NODE_H = 38, V_GAP = 46, H_GAP = 22, MAX_W = 230, MIN_W = 90, CHAR_W = 7;

function nodeWidth(node) {
  const chars = Math.max(String(node.label || node.id).length, String(node.sublabel || "").length * 0.85);
  return Math.max(MIN_W, Math.min(MAX_W, chars * CHAR_W + 20));
}

/** Layers and positions: {pos: Map(id -> {x, y, w}), width, height}. */
export function layout(graph, direction = "TB") {
  const ids = graph.nodes.map((n) => n.id);
  const known = new Set(ids);
  const out = new Map(ids.map((id) => [id, []]));
  const inc = new Map(ids.map((id) => [id, []]));
  for (const e of graph.edges) {
    if (!known.has(e.source) || !known.has(e.target) || e.source === e.target) continue;
    out.get(e.source).push(e.target);
    inc.get(e.target).push(e.source);
  }
  // longest path from the sources (Kahn's order; nodes left in a cycle go last)
  const layer = new Map();
  const indeg = new Map(ids.map((id) => [id, inc.get(id).length]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  const order = [];
  while (queue.length) {
    const id = queue.shift();
    order.push(id);
    for (const t of out.get(id)) {
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  for (const id of ids) if (!order.includes(id)) order.push(id);
  for (const id of order) {
    let l = 0;
    for (const s of inc.get(id)) if (layer.has(s)) l = Math.max(l, layer.get(s) + 1);
    layer.set(id, l);
  }
  const layers = [];
  for (const id of order) (layers[layer.get(id)] ||= []).push(id);
  // barycenter sweeps: down with the parents' positions, up with the children's
  const index = new Map();
  const reindex = () => layers.forEach((ls) => ls.forEach((id, i) => index.set(id, i)));
  reindex();
  const bary = (id, nbrs) => {
    const ps = nbrs.get(id).filter((n) => index.has(n)).map((n) => index.get(n));
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : index.get(id);
  };
  for (let sweep = 0; sweep < 6; sweep++) {
    const down = sweep % 2 === 0;
    const range = down ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const li of range) {
      const nbrs = down ? inc : out;
      const keyed = layers[li].map((id) => [bary(id, nbrs), index.get(id), id]);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      layers[li] = keyed.map((k) => k[2]);
      layers[li].forEach((id, i) => index.set(id, i));
    }
  }
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const pos = new Map();
  const widths = layers.map((ls) => ls.reduce((a, id) => a + nodeWidth(byId.get(id)) + H_GAP, -H_GAP));
  const span = Math.max(0, ...widths);
  layers.forEach((ls, li) => {
    let x = (span - widths[li]) / 2;
    for (const id of ls) {
      const w = nodeWidth(byId.get(id));
      pos.set(id, { x, y: li * (NODE_H + V_GAP), w });
      x += w + H_GAP;
    }
  });
  if (direction === "LR") {
    for (const p of pos.values()) [p.x, p.y] = [p.y * 2.6, p.x * 0.55];
  }
  let width = 0, height = 0;
  for (const p of pos.values()) { width = Math.max(width, p.x + p.w); height = Math.max(height, p.y + NODE_H); }
  return { pos, width, height, layers: layers.length };
}

function truncate(text, w) {
  const max = Math.floor((w - 14) / CHAR_W);
  text = String(text);
  return text.length > max ? text.slice(0, Math.max(1, max - 1)) + "…" : text;
}

/**
 * Draw `graph` into `container`. Options: onSelect(node), selected (id), direction ("TB"|"LR").
 * Returns {update(graph)}: recolours nodes in place when only states changed (live runs),
 * redraws when nodes or edges changed.
 */
export function renderGraph(container, graph, options = {}) {
  let current = null;
  let selected = options.selected ?? null;
  const draw = (g) => {
    const pad = 16;
    const { pos, width, height } = layout(g, options.direction || "TB");
    const svg = h("svg", {
      width: width + pad * 2, height: height + pad * 2, role: "img",
      "aria-label": options.label || "graph", class: "graph-svg",
    });
    const edges = h("g", { class: "edges" });
    for (const e of g.edges) {
      const a = pos.get(e.source), b = pos.get(e.target);
      if (!a || !b) continue;
      const x1 = a.x + a.w / 2 + pad, y1 = a.y + NODE_H + pad, x2 = b.x + b.w / 2 + pad, y2 = b.y + pad;
      const my = (y1 + y2) / 2;
      edges.append(h("path", { class: "edge", d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`, "marker-end": "" }));
    }
    svg.append(edges);
    const nodes = h("g", { class: "nodes" });
    for (const n of g.nodes) {
      const p = pos.get(n.id);
      const cls = ["node", n.kind || "task", n.state || "", n.id === selected ? "selected" : "", n.focus ? "focus" : ""].join(" ");
      const el = h("g", { class: cls, transform: `translate(${p.x + pad},${p.y + pad})`, "data-id": n.id, "data-state": n.state || "", tabindex: 0 },
        h("title", {}, [n.label, n.state ? ` (${n.state})` : "", n.title ? `\n${n.title}` : ""].join("")),
        h("rect", { width: p.w, height: NODE_H, rx: n.kind === "artifact" ? 12 : 5 }),
        h("text", { x: 8, y: n.sublabel ? 16 : 23 }, truncate(n.label ?? n.id, p.w)),
        n.sublabel ? h("text", { x: 8, y: 31, class: "sub", "font-size": 10, fill: "#667085" }, truncate(n.sublabel, p.w)) : null,
      );
      const choose = () => {
        selected = n.id;
        svg.querySelectorAll(".node.selected").forEach((x) => x.classList.remove("selected"));
        el.classList.add("selected");
        if (options.onSelect) options.onSelect(n);
      };
      el.addEventListener("click", choose);
      el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") choose(); });
      nodes.append(el);
    }
    svg.append(nodes);
    clear(container).append(svg);
    current = g;
  };
  const shape = (g) => JSON.stringify([g.nodes.map((n) => [n.id, n.label, n.sublabel, n.kind]), g.edges.map((e) => [e.source, e.target])]);
  draw(graph);
  return {
    update(g) {
      if (current && shape(g) === shape(current)) {
        for (const n of g.nodes) {
          const el = container.querySelector(`g.node[data-id="${CSS.escape(n.id)}"]`);
          if (!el || el.dataset.state === (n.state || "")) continue;
          if (el.dataset.state) el.classList.remove(el.dataset.state);
          if (n.state) el.classList.add(n.state);
          el.dataset.state = n.state || "";
          const title = el.querySelector("title");
          if (title) title.textContent = `${n.label}${n.state ? ` (${n.state})` : ""}${n.title ? `\n${n.title}` : ""}`;
        }
        current = g;
      } else draw(g);
    },
  };
}
