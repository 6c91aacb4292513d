// The models page: the registered models (or, with none, the pushed models); one model's
// versions with their blessing and evaluation, its aliases and the alias history.
import { h, fmtTime, fmtValue, link } from "../dom.js";
import { get } from "../api.js";

const when = (iso) => (iso ? fmtTime(Date.parse(iso) / 1000) : "");

function table(columns, rows, cls) {
  return h("table", { class: `data ${cls}` },
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", {}, c)))), h("tbody", {}, ...rows));
}

function aliasChips(aliases) {
  return Object.entries(aliases || {}).map(([a, v]) => h("span", { class: "badge models-alias" }, `${a} → v${v}`));
}

async function renderList(main) {
  const data = await get("/models");
  main.append(h("h1", {}, "Models"));
  if (data.models.length) {
    main.append(table(["model", "versions", "latest", "aliases", "updated"], data.models.map((m) =>
      h("tr", {}, h("td", {}, link(`/models/${encodeURIComponent(m.name)}`, m.name), h("div", { class: "muted" }, m.description)),
        h("td", { class: "num" }, m.versions), h("td", { class: "num" }, m.latest_version ? `v${m.latest_version}` : ""),
        h("td", {}, ...aliasChips(m.aliases)), h("td", {}, when(m.updated_at)))), "models-list"));
    return;
  }
  main.append(h("p", { class: "muted" }, "No model is registered. Pushed models:"));
  if (!data.pushed.length) { main.append(h("p", { class: "muted" }, "None yet.")); return; }
  main.append(table(["artifact", "pushed", "destination / reason", "run", "when"], data.pushed.map((p) =>
    h("tr", {}, h("td", {}, link(`/artifacts/${p.artifact}`, `#${p.artifact}`)), h("td", {}, p.pushed ? "yes" : "no"),
      h("td", {}, p.destination || p.reason || ""), h("td", {}, p.run ? link(`/runs/${encodeURIComponent(p.run)}`, p.run) : ""),
      h("td", {}, when(p.created_at)))), "models-pushed"));
}

function blessingCell(v) {
  if (!v.blessing) return h("span", { class: "muted" }, "not evaluated");
  const b = v.blessing;
  return h("span", {}, h("span", { class: `badge ${b.blessed ? "COMPLETE" : "FAILED"}` }, b.blessed ? "blessed" : "not blessed"),
    h("div", { class: "muted" }, b.reason || "", b.forced ? " (forced)" : ""),
    link(`/artifacts/${b.artifact}`, `blessing #${b.artifact}`));
}

function evaluationCell(v) {
  if (!v.evaluation) return "";
  const e = v.evaluation;
  return h("span", {}, ...Object.entries(e.metrics).map(([k, x]) => h("div", {}, `${k} ${fmtValue(x)}`)),
    link(`/artifacts/${e.artifact}`, `evaluation #${e.artifact}`));
}

async function renderModel(main, name) {
  const m = await get(`/models/${encodeURIComponent(name)}`);
  main.append(h("h1", {}, link("/models", "Models"), " / ", m.name),
    m.description ? h("p", {}, m.description) : "",
    h("div", { class: "card" }, h("b", {}, "Aliases: "), ...aliasChips(m.aliases), Object.keys(m.aliases).length ? "" : h("span", { class: "muted" }, "none")));
  main.append(h("h2", {}, "Versions"), table(["version", "aliases", "model", "run", "created", "blessing", "evaluation", "description / tags"],
    m.versions.map((v) => h("tr", { "data-version": v.version },
      h("td", {}, h("b", {}, `v${v.version}`)), h("td", {}, ...v.aliases.map((a) => h("span", { class: "badge models-alias" }, a))),
      h("td", {}, link(`/artifacts/${v.artifact}`, `#${v.artifact}`), v.artifact_state && v.artifact_state !== "LIVE" ? h("div", { class: "muted" }, v.artifact_state) : ""),
      h("td", {}, v.run ? link(`/runs/${encodeURIComponent(v.run)}`, v.run) : ""),
      h("td", {}, when(v.created_at)), h("td", {}, blessingCell(v)), h("td", {}, evaluationCell(v)),
      h("td", {}, v.description, Object.keys(v.tags || {}).length ? h("div", { class: "muted" }, JSON.stringify(v.tags)) : ""))), "models-versions"));
  main.append(h("h2", {}, "Alias history"));
  if (!m.history.length) { main.append(h("p", { class: "muted" }, "No alias was ever set.")); return; }
  main.append(h("ol", { class: "models-history" }, ...m.history.slice().reverse().map((c) =>
    h("li", { class: c.forced ? "models-forced" : "" },
      h("b", {}, when(c.changed_at)), " ", h("code", {}, c.alias), ": ",
      c.from_version === null ? "set" : `v${c.from_version}`, " → ", c.to_version === null ? "deleted" : `v${c.to_version}`,
      c.forced ? h("span", { class: "badge FAILED" }, "forced") : "",
      h("div", { class: "muted" }, `by ${c.actor}${c.reason ? ` — ${c.reason}` : ""}`)))));
}

export async function render(main, { params }) {
  if (params.model) await renderModel(main, params.model);
  else await renderList(main);
}
