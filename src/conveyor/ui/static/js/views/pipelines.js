// The pipelines page (to be built).
import { h } from "../dom.js";

export async function render(main) {
  main.append(h("h1", {}, "pipelines"), h("p", { class: "muted" }, "Not built yet."));
}
