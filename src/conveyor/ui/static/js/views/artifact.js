// The artifact page: its record (type, size, digest, producer run and task, consumers), a
// download button and a lineage link, then the typed view the API sends for its type.
import { h, badge, fmtBytes, fmtTime, link } from "../dom.js";
import { API, get } from "../api.js";
import { renderStatistics } from "../artifact_stats.js";
import {
  renderAnomalies, renderCard, renderDocument, renderEvaluation, renderFiles, renderMetrics,
  renderModel, renderSample, renderSchema,
} from "../artifact_views.js";

function go(href) { window.conveyorNavigate(href); }

function execLink(x) {
  if (!x) return "";
  return h("span", {}, x.run ? link(`/runs/${encodeURIComponent(x.run)}`, x.run) : "", " / ", h("b", {}, x.task), " ", badge(x.state),
    " ", h("a", { class: "muted", href: `/lineage/execution/${x.id}` }, "lineage"));
}

function header(art) {
  const when = art.created_at ? fmtTime(Date.parse(art.created_at) / 1000) : "";
  const kv = h("dl", { class: "kv" },
    h("dt", {}, "type"), h("dd", {}, art.type),
    h("dt", {}, "state"), h("dd", {}, art.state),
    h("dt", {}, "size"), h("dd", {}, fmtBytes(art.size)),
    h("dt", {}, "digest"), h("dd", { class: "art-digest" }, art.digest || ""),
    h("dt", {}, "uri"), h("dd", {}, art.uri),
    h("dt", {}, "created"), h("dd", {}, when),
    h("dt", {}, "produced by"), h("dd", { class: "art-producer" }, art.producer ? execLink(art.producer) : "(imported)"));
  if (art.consumers.length) {
    kv.append(h("dt", {}, "used by"), h("dd", {}, ...art.consumers.map((c) => h("div", {}, execLink(c), h("span", { class: "muted" }, ` as ${c.input}`)))));
  }
  return h("div", { class: "card" },
    h("div", { class: "row" },
      h("h1", { class: "grow" }, `${art.type.split("@")[0].replace(/^conveyor\./, "")} #${art.id}`),
      h("a", { class: "button", id: "download", href: `${API}/artifacts/${art.id}/download`, download: `artifact-${art.id}` }, "Download"),
      h("a", { class: "button", id: "lineage-link", href: `/lineage/artifact/${art.id}` }, "Lineage")),
    kv);
}

export async function render(main, { params, query }) {
  const id = params.artifact;
  const art = await get(`/artifacts/${id}`);
  main.append(header(art));
  const body = h("div", { class: "art-view", "data-kind": art.view }, h("p", { class: "muted" }, "Loading the view…"));
  main.append(body);
  const view = await get(`/artifacts/${id}/view`, { baseline: query.get("baseline"), split: query.get("split") });
  body.replaceChildren();
  const here = (q) => { const s = new URLSearchParams(q).toString(); go(`/artifacts/${id}${s ? "?" + s : ""}`); };
  switch (view.kind) {
    case "statistics": body.append(renderStatistics(view, (b) => here(b ? { baseline: b } : {}))); break;
    case "schema": body.append(renderSchema(view)); break;
    case "anomalies": body.append(renderAnomalies(view)); break;
    case "evaluation": body.append(renderEvaluation(view)); break;
    case "model_card": body.append(renderCard(view)); break;
    case "examples": case "dataset": body.append(renderSample(view, (split) => here({ split }))); break;
    case "model": body.append(renderModel(view)); break;
    case "metrics": body.append(renderMetrics(view)); break;
    case "blessing": case "infra_blessing": case "pushed_model": body.append(renderDocument(view)); break;
    default: break;
  }
  if (view.files) body.append(renderFiles(id, view.files, view.files_truncated));
  body.dataset.ready = "1";
}
