// The gc page: what garbage collection would delete now (artifacts of archived and deleted
// runs that nothing kept needs, and deleted runs' step logs), and a button that does it.
import { h, clear, fmtBytes, link } from "../dom.js";
import { get, post } from "../api.js";

function planTable(plan) {
  const rows = plan.artifacts.map((a) => h("tr", { dataset: { artifact: a.id } },
    h("td", {}, link(`/artifacts/${a.id}`, `#${a.id}`)),
    h("td", {}, a.type),
    h("td", {}, link(`/runs/${encodeURIComponent(a.run_id)}`, a.run_id)),
    h("td", { class: "num" }, fmtBytes(a.bytes)),
    h("td", { class: "muted" }, a.uri)));
  for (const g of plan.logs) {
    rows.push(h("tr", { class: "gc-log" }, h("td", {}, "logs"), h("td", {}, "step logs"),
      h("td", {}, link(`/runs/${encodeURIComponent(g.run_id)}`, g.run_id)),
      h("td", { class: "num" }, fmtBytes(g.bytes)), h("td", { class: "muted" }, g.path)));
  }
  return h("table", { class: "data gc-plan" },
    h("thead", {}, h("tr", {}, ...["artifact", "type", "run", "size", "uri"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows));
}

function summary(plan, verb) {
  return h("p", { class: "gc-summary" },
    h("strong", { class: "gc-total" }, fmtBytes(plan.total_bytes)), ` ${verb}: `,
    `${plan.artifact_count} artifact(s) and ${plan.logs.length} log folder(s) of `,
    `${plan.runs.length} archived or deleted run(s)`,
    plan.kept ? `; ${plan.kept} artifact(s) of theirs kept, still needed by kept runs, cache hits or registered models.` : ".");
}

export async function render(main) {
  const body = h("div", {});
  main.append(h("h1", {}, "Garbage collection"),
    h("p", { class: "muted" }, "Frees the bytes of archived and deleted runs' artifacts that no kept run, ",
      "cache hit or registered model needs (following lineage). Metadata and lineage stay."), body);

  async function draw(done) {
    const plan = done || await get("/gc");
    clear(body);
    if (done) body.append(h("div", { class: "card gc-done" }, summary(done, "freed"),
      ...done.errors.map((e) => h("div", { class: "error" }, e))));
    const fresh = done ? await get("/gc") : plan;
    body.append(summary(fresh, "to free"));
    const collect = h("button", { class: "primary", type: "button", dataset: { action: "collect" },
      disabled: !(fresh.artifact_count || fresh.logs.length) }, "Collect");
    const message = h("span", { class: "muted" });
    collect.addEventListener("click", async () => {
      collect.disabled = true;
      clear(message).append("Collecting…");
      try { await draw(await post("/gc")); } catch (err) {
        clear(message).append(h("span", { class: "error" }, String(err.message || err)));
        collect.disabled = false;
      }
    });
    body.append(h("p", {}, collect, " ", message));
    if (fresh.artifacts.length || fresh.logs.length) body.append(planTable(fresh));
    else body.append(h("p", { class: "muted gc-empty" }, "Nothing to collect."));
  }
  await draw(null);
}
