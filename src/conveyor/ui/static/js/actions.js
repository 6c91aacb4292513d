// The action buttons of a run (retry, clone, terminate, archive, restore, delete), drawn in the
// run page's header (to be built).
import { h } from "./dom.js";

/** actionBar(run, {onDone(result)}) -> HTMLElement; `run` is GET /api/v1/runs/{id}'s JSON. */
export function actionBar(run, options = {}) {
  return h("span", { class: "actions" });
}
