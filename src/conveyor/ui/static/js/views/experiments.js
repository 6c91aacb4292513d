// The experiments page: each experiment with its runs counted by state, its pipelines and its
// newest run, linking to the runs list filtered on it.
import { get } from "../api.js";
import { badge, fmtTime, h, link } from "../dom.js";

const LIFECYCLES = ["active", "archived", "deleted", "all"];

function runsHref(filters) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.append(key, value);
  return `/runs?${params}`;
}

export async function render(main, { query }) {
  const lifecycle = query.get("lifecycle") || "active";
  const body = await get("/experiments", { lifecycle });
  const chooser = h("select", { "aria-label": "lifecycle", onchange: (ev) => {
    const value = ev.target.value;
    window.conveyorNavigate(value === "active" ? "/experiments" : `/experiments?lifecycle=${value}`);
  } }, LIFECYCLES.map((value) => h("option", { value, selected: value === lifecycle }, `${value} runs`)));
  const filters = (extra) => ({ ...extra, lifecycle: lifecycle === "active" ? "" : lifecycle });
  const rows = body.experiments.map((e) => h("tr", { dataset: { experiment: e.name } },
    h("td", {}, link(runsHref(filters({ experiment: e.name })), e.name)),
    h("td", { class: "num" }, String(e.runs)),
    h("td", {}, Object.entries(e.states).sort().map(([state, n]) =>
      h("span", { class: "state-count" }, badge(state), ` ${n} `))),
    h("td", {}, e.pipelines.map((p, i) => [i ? ", " : "", link(runsHref(filters({ experiment: e.name, pipeline: p })), p)])),
    h("td", {}, fmtTime(e.last_started_at)),
  ));
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 5, class: "muted" },
    "No experiments yet: conveyor run pipeline.py --experiment NAME groups runs into one.")));
  main.append(
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Experiments"), chooser),
    h("table", { class: "data experiments" },
      h("thead", {}, h("tr", {}, ["experiment", "runs", "states", "pipelines", "last run"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)),
    body.runs_without_experiment
      ? h("p", { class: "muted" }, body.runs_without_experiment === 1
        ? "1 more run has no experiment: " : `${body.runs_without_experiment} more runs have no experiment: `,
        link(runsHref(filters({})), "all runs"), ".")
      : null,
  );
}
