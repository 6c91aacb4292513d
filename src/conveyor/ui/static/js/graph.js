// Directed graphs drawn as SVG: a layered layout (longest-path layers, barycenter ordering to
// reduce edge crossings, long layers wrapped into rows), done here so that the API sends only
// nodes and edges. A toolbar zooms (fit, -, +) and a legend names the state colours.
//
// graph = { nodes: [{id, label, sublabel?, state?, kind?, title?, expandable?}], edges: [{source, target}] }
// kind: "task" (default), "group" (a loop or parallel-for, collapsed: click to open it),
// "artifact", "execution"; state: an execution state (COMPLETE, RUNNING, ...), the node's colour.
import { h, append, clear } from "./dom.js";

const NODE_H = 38, V_GAP = 46, ROW_GAP = 14, H_GAP = 22, MAX_W = 230, MIN_W = 90, CHAR_W = 7;
const MAX_ROW = 12; // nodes per row before a layer wraps
const STATES = ["PENDING", "RUNNING", "COMPLETE", "CACHED", "FAILED", "CANCELED", "SKIPPED"];

function nodeWidth(node) {
  const chars = Math.max(String(node.label || node.id).length, String(node.sublabel || "").length * 0.85);
  return Math.max(MIN_W, Math.min(MAX_W, chars * CHAR_W + 20));
}

/** Layers and positions: {pos: Map(id -> {x, y, w}), width, height, layers}. */
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
  const ordered = new Set();
  for (let qi = 0; qi < queue.length; qi++) {
    const id = queue[qi];
    order.push(id);
    ordered.add(id);
    for (const t of out.get(id)) {
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  for (const id of ids) if (!ordered.has(id)) order.push(id);
  for (const id of order) {
    let l = 0;
    for (const s of inc.get(id)) if (layer.has(s)) l = Math.max(l, layer.get(s) + 1);
    layer.set(id, l);
  }
  const layers = [];
  for (const id of order) (layers[layer.get(id)] ||= []).push(id);
  for (let i = 0; i < layers.length; i++) layers[i] ||= [];
  // barycenter sweeps: down with the parents' positions, up with the children's
  const index = new Map();
  layers.forEach((ls) => ls.forEach((id, i) => index.set(id, i)));
  const bary = (id, nbrs) => {
    const ps = nbrs.get(id).filter((n) => index.has(n)).map((n) => index.get(n));
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : index.get(id);
  };
  const sweeps = graph.nodes.length > 600 ? 2 : 6;
  for (let sweep = 0; sweep < sweeps; sweep++) {
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
  // a long layer (hundreds of instances) wraps into rows of MAX_ROW nodes
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const rows = [];
  const rowGap = [];
  const rowLayer = [];
  layers.forEach((ls, li) => {
    for (let i = 0; i < Math.max(ls.length, 1); i += MAX_ROW) {
      rows.push(ls.slice(i, i + MAX_ROW));
      rowGap.push(i === 0 ? V_GAP : ROW_GAP);
      rowLayer.push(li);
    }
  });
  const widths = rows.map((ls) => ls.reduce((a, id) => a + nodeWidth(byId.get(id)) + H_GAP, -H_GAP));
  const span = Math.max(0, ...widths);
  const pos = new Map();
  const blocks = []; // wrapped layers: edges end at the block's top and leave from its bottom
  let y = 0;
  const layerTop = new Map();
  rows.forEach((ls, ri) => {
    if (ri > 0) y += NODE_H + rowGap[ri];
    const li = rowLayer[ri];
    if (!layerTop.has(li)) layerTop.set(li, y);
    let x = (span - widths[ri]) / 2;
    for (const id of ls) {
      const w = nodeWidth(byId.get(id));
      pos.set(id, { x, y, w, layer: li });
      x += w + H_GAP;
    }
  });
  const layerBottom = new Map();
  for (const p of pos.values()) layerBottom.set(p.layer, Math.max(layerBottom.get(p.layer) ?? 0, p.y + NODE_H));
  for (const p of pos.values()) { p.top = layerTop.get(p.layer); p.bottom = layerBottom.get(p.layer); }
  layers.forEach((ls, li) => {
    if (ls.length > MAX_ROW) blocks.push({ x: 0, y: layerTop.get(li), w: span, h: layerBottom.get(li) - layerTop.get(li) });
  });
  if (direction === "LR") {
    for (const p of pos.values()) { [p.x, p.y] = [p.y * 2.6, p.x * 0.55]; p.top = p.y; p.bottom = p.y + NODE_H; }
    blocks.length = 0;
  }
  let width = 0, height = 0;
  for (const p of pos.values()) { width = Math.max(width, p.x + p.w); height = Math.max(height, p.y + NODE_H); }
  return { pos, width, height, layers: layers.length, blocks };
}

function truncate(text, w) {
  const max = Math.floor((w - 14) / CHAR_W);
  text = String(text);
  return text.length > max ? text.slice(0, Math.max(1, max - 1)) + "…" : text;
}

function titleOf(n) {
  return [n.label, n.state ? ` (${n.state})` : "", n.title ? `\n${n.title}` : "",
    n.expandable ? "\nclick to open" : ""].join("");
}

function legend(graph) {
  const seen = new Set(graph.nodes.map((n) => n.state).filter(Boolean));
  if (!seen.size) return null;
  const items = STATES.filter((s) => seen.has(s) || ["PENDING", "RUNNING", "COMPLETE", "FAILED"].includes(s));
  const hasGroups = graph.nodes.some((n) => n.kind === "group");
  return h("span", { class: "legend" },
    items.map((s) => h("span", { class: `swatch ${s}` }, s.toLowerCase())),
    hasGroups ? h("span", { class: "swatch group" }, "group (click to open)") : null);
}

/**
 * Draw `graph` into `container`. Options: onSelect(node), selected (id), direction ("TB"|"LR"),
 * label, fit (start zoomed to fit the container's width; default true for wide graphs).
 * Returns {update(graph), select(id)}: update recolours nodes in place when only states or
 * sublabels changed (live runs) and redraws when nodes or edges changed.
 */
export function renderGraph(container, graph, options = {}) {
  let current = null;
  let selected = options.selected ?? null;
  let zoom = null; // fitted to the view on each redraw until the user zooms
  let userZoomed = false;
  const bar = h("div", { class: "graph-bar" });
  const scroller = h("div", { class: "graph-scroll" });
  clear(container).append(bar, scroller);
  container.classList.add("graph");
  let svg = null, natural = { width: 0, height: 0 };

  const applyZoom = () => {
    if (!svg) return;
    svg.setAttribute("width", Math.max(1, Math.round(natural.width * zoom)));
    svg.setAttribute("height", Math.max(1, Math.round(natural.height * zoom)));
  };
  const fit = () => {
    const avail = Math.max(200, (scroller.clientWidth || container.clientWidth || 1000) - 4);
    zoom = Math.min(1, avail / Math.max(1, natural.width));
    applyZoom();
  };
  const setZoom = (z) => { userZoomed = true; zoom = Math.max(0.1, Math.min(3, z)); applyZoom(); };

  const toolbar = (g) => {
    append(clear(bar), [
      h("button", { type: "button", class: "zoom-fit", title: "Zoom to fit", onclick: () => { userZoomed = false; fit(); } }, "fit"),
      h("button", { type: "button", title: "Zoom out", onclick: () => setZoom(zoom / 1.25) }, "−"),
      h("button", { type: "button", title: "Zoom in", onclick: () => setZoom(zoom * 1.25) }, "+"),
      h("span", { class: "muted" }, `${g.nodes.length} nodes`),
      legend(g),
    ]);
  };

  const draw = (g) => {
    const pad = 16;
    const { pos, width, height, blocks } = layout(g, options.direction || "TB");
    natural = { width: width + pad * 2, height: height + pad * 2 };
    svg = h("svg", {
      viewBox: `0 0 ${natural.width} ${natural.height}`, role: "img",
      "aria-label": options.label || "graph", class: "graph-svg",
    });
    for (const b of blocks) {
      svg.append(h("rect", { class: "block", x: b.x + pad - 8, y: b.y + pad - 8, width: b.w + 16, height: b.h + 16, rx: 8 }));
    }
    const edges = h("g", { class: "edges" });
    for (const e of g.edges) {
      const a = pos.get(e.source), b = pos.get(e.target);
      if (!a || !b) continue;
      const x1 = a.x + a.w / 2 + pad, y1 = a.bottom + pad, x2 = b.x + b.w / 2 + pad, y2 = b.top + pad;
      const my = (y1 + y2) / 2;
      edges.append(h("path", { class: "edge", d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}` }));
    }
    svg.append(edges);
    const nodes = h("g", { class: "nodes" });
    for (const n of g.nodes) {
      const p = pos.get(n.id);
      const cls = ["node", n.kind || "task", n.state || "", n.id === selected ? "selected" : "", n.focus ? "focus" : ""].join(" ");
      const el = h("g", { class: cls, transform: `translate(${p.x + pad},${p.y + pad})`, "data-id": n.id, "data-state": n.state || "", tabindex: 0 },
        h("title", {}, titleOf(n)),
        h("rect", { width: p.w, height: NODE_H, rx: n.kind === "artifact" ? 12 : 5 }),
        h("text", { x: 8, y: n.sublabel ? 16 : 23, class: "label" }, truncate((n.expandable ? "⊞ " : "") + (n.label ?? n.id), p.w)),
        h("text", { x: 8, y: 31, class: "sub", "font-size": 10, fill: "#667085" }, n.sublabel ? truncate(n.sublabel, p.w) : ""),
      );
      const choose = () => {
        selected = n.id;
        svg.querySelectorAll(".node.selected").forEach((x) => x.classList.remove("selected"));
        el.classList.add("selected");
        if (options.onSelect) options.onSelect(byId(n.id) || n);
      };
      el.addEventListener("click", choose);
      el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") choose(); });
      nodes.append(el);
    }
    svg.append(nodes);
    clear(scroller).append(svg);
    current = g;
    toolbar(g);
    if (!userZoomed && options.fit !== false) fit();
    else { zoom ??= 1; applyZoom(); }
  };
  const byId = (id) => current && current.nodes.find((x) => x.id === id);
  const shape = (g) => JSON.stringify([g.nodes.map((n) => [n.id, n.label, n.kind, !!n.expandable]), g.edges.map((e) => [e.source, e.target])]);
  draw(graph);
  return {
    update(g) {
      if (current && shape(g) === shape(current)) {
        for (const n of g.nodes) {
          const el = scroller.querySelector(`g.node[data-id="${CSS.escape(n.id)}"]`);
          if (!el) continue;
          if (el.dataset.state !== (n.state || "")) {
            if (el.dataset.state) el.classList.remove(el.dataset.state);
            if (n.state) el.classList.add(n.state);
            el.dataset.state = n.state || "";
          }
          const sub = el.querySelector("text.sub");
          const rect = el.querySelector("rect");
          if (sub && rect) sub.textContent = n.sublabel ? truncate(n.sublabel, Number(rect.getAttribute("width"))) : "";
          const title = el.querySelector("title");
          if (title) title.textContent = titleOf(n);
        }
        current = g;
        toolbar(g);
      } else draw(g);
    },
    select(id) {
      selected = id;
      if (!svg) return;
      svg.querySelectorAll(".node.selected").forEach((x) => x.classList.remove("selected"));
      const el = scroller.querySelector(`g.node[data-id="${CSS.escape(id)}"]`);
      if (el) el.classList.add("selected");
    },
  };
}
