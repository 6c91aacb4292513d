// The charts page (to be built).
import { h } from "../dom.js";

export async function render(main) {
  main.append(h("h1", {}, "charts"), h("p", { class: "muted" }, "Not built yet."));
}
