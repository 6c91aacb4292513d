// The runs page (to be built).
import { h } from "../dom.js";

export async function render(main) {
  main.append(h("h1", {}, "runs"), h("p", { class: "muted" }, "Not built yet."));
}
