// The single-page app: a table of routes, each drawn by a view module from /api/v1's JSON.
import { clear, errorBox } from "./dom.js";

const ROUTES = [
  [/^\/$/, () => import("./views/runs.js"), "runs"],
  [/^\/runs\/?$/, () => import("./views/runs.js"), "runs"],
  [/^\/experiments\/?$/, () => import("./views/experiments.js"), "experiments"],
  [/^\/runs\/(?<run>[^/]+)$/, () => import("./views/run.js"), "runs"],
  [/^\/pipelines\/?$/, () => import("./views/pipelines.js"), "pipelines"],
  [/^\/pipelines\/(?<pipeline>[^/]+)$/, () => import("./views/pipelines.js"), "pipelines"],
  [/^\/artifacts\/(?<artifact>\d+)$/, () => import("./views/artifact.js"), "runs"],
  [/^\/lineage\/(?<kind>artifact|execution)\/(?<id>\d+)$/, () => import("./views/lineage.js"), "runs"],
  [/^\/compare\/?$/, () => import("./views/compare.js"), "compare"],
  [/^\/charts\/?$/, () => import("./views/charts.js"), "compare"],
  [/^\/models\/?$/, () => import("./views/models.js"), "models"],
  [/^\/models\/(?<model>[^/]+)$/, () => import("./views/models.js"), "models"],
  [/^\/gc\/?$/, () => import("./views/gc.js"), "gc"],
];

let cleanup = null;
let generation = 0;

async function route() {
  const main = document.getElementById("main");
  const path = decodeURI(location.pathname);
  if (typeof cleanup === "function") { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
  const mine = ++generation;
  for (const [pattern, load, nav] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    try {
      const view = await load();
      if (mine !== generation) return;
      clear(main);
      const params = Object.fromEntries(Object.entries(m.groups || {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      cleanup = await view.render(main, { params, query: new URLSearchParams(location.search) });
    } catch (err) {
      if (mine !== generation) return;
      console.error(err);
      clear(main).append(errorBox(err));
    }
    return;
  }
  clear(main).append(errorBox(`No page at ${path}`));
}

/** Go to a page of the app without reloading (history entry added). */
export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a");
  if (!a || a.target || a.hasAttribute("download") || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/static/")) return;
  ev.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener("popstate", route);
window.conveyorNavigate = navigate;
route();
