// The action buttons of a run (retry, clone, terminate, archive, restore, delete), drawn in the
// run page's header. Every action is a POST of the API; confirmations are <dialog>s.
import { h, clear, fmtBytes } from "./dom.js";
import { get, post } from "./api.js";

function runOf(run) {
  const r = (run && (run.run || run)) || {};
  return {
    id: r.run_id || r.id || r.name,
    state: r.state,
    lifecycle: r.lifecycle || "active",
    parameters: r.parameters || {},
    experiment: r.experiment || "",
  };
}

function go(url) {
  if (typeof window.conveyorNavigate === "function") window.conveyorNavigate(url);
  else location.assign(url);
}

/** A modal dialog: title, body nodes, and buttons [{label, cls, action(dialog) -> bool|Promise}]. */
function openDialog(title, body, buttons, cls = "") {
  const error = h("div", { class: "error action-error", hidden: true });
  const dialog = h("dialog", { class: `action-dialog ${cls}` });
  const close = () => { dialog.close(); dialog.remove(); };
  const row = h("div", { class: "action-buttons" });
  for (const b of buttons) {
    row.append(h("button", {
      class: b.cls || "", type: "button", dataset: { dialogAction: b.key || b.label.toLowerCase() },
      onclick: async (ev) => {
        if (!b.action) { close(); return; }
        const button = ev.currentTarget;
        button.disabled = true;
        error.hidden = true;
        try {
          if ((await b.action(dialog)) !== false) close();
        } catch (err) {
          clear(error).append(String(err && err.message ? err.message : err));
          error.hidden = false;
        } finally {
          button.disabled = false;
        }
      },
    }, b.label));
  }
  dialog.append(h("h2", {}, title), ...body, error, row);
  dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  dialog.addEventListener("input", () => { error.hidden = true; });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function parseValue(text, original) {
  if (typeof original === "string") return text;
  try { return JSON.parse(text); } catch { return text; }  // the server names a bad value
}

function shown(value) { return typeof value === "string" ? value : JSON.stringify(value); }

function cloneDialog(r) {
  const names = Object.keys(r.parameters).sort();
  const inputs = {};
  const rows = names.map((name) => {
    const value = r.parameters[name];
    inputs[name] = h("input", { type: "text", name, value: shown(value), dataset: { param: name }, size: 40 });
    return h("tr", {}, h("th", {}, name), h("td", {}, inputs[name]),
      h("td", { class: "muted" }, typeof value === "string" ? "text" : typeof value));
  });
  const experiment = h("input", { type: "text", name: "experiment", value: r.experiment, placeholder: "(none)", size: 40 });
  const table = names.length
    ? h("table", { class: "data action-params" }, h("tbody", {}, ...rows))
    : h("p", { class: "muted" }, "This run has no parameters.");
  openDialog(`Clone ${r.id}`, [
    h("p", { class: "muted" }, "A new run of the same pipeline; change what you want."),
    table,
    h("p", {}, h("label", {}, "Experiment ", experiment)),
  ], [
    { label: "Cancel", key: "cancel" },
    {
      label: "Start run", key: "start", cls: "primary",
      action: async () => {
        const parameters = {};
        for (const name of names) {
          const text = inputs[name].value;
          if (text !== shown(r.parameters[name])) parameters[name] = parseValue(text, r.parameters[name]);
        }
        const result = await post(`/runs/${encodeURIComponent(r.id)}/clone`, {
          parameters, experiment: experiment.value.trim() || null,
        });
        go(result.url);
      },
    },
  ], "clone-dialog");
}

async function deleteDialog(r, done) {
  const preview = await get(`/runs/${encodeURIComponent(r.id)}/delete-preview`);
  const frees = `${preview.artifact_count} artifact(s), ${fmtBytes(preview.total_bytes)}`;
  openDialog(`Delete ${r.id}?`, [
    h("p", {}, "The run leaves every list. ", h("code", {}, "conveyor gc"), " then frees ",
      h("strong", { class: "delete-frees" }, frees),
      preview.kept ? ` (${preview.kept} more kept: still needed elsewhere).` : "."),
    h("p", { class: "muted" }, "Metadata and lineage stay; Restore brings the run back until gc runs."),
  ], [
    { label: "Cancel", key: "cancel" },
    { label: "Delete", key: "delete", cls: "danger", action: async () => done(await post(`/runs/${encodeURIComponent(r.id)}/delete`)) },
  ], "delete-dialog");
}

function confirmDialog(title, text, label, cls, run) {
  openDialog(title, [h("p", {}, text)], [
    { label: "Cancel", key: "cancel" },
    { label, key: label.toLowerCase(), cls, action: run },
  ], "confirm-dialog");
}

/** actionBar(run, {onDone(result)}) -> HTMLElement; `run` is GET /api/v1/runs/{id}'s JSON. */
export function actionBar(run, options = {}) {
  const r = runOf(run);
  const bar = h("span", { class: "actions", dataset: { run: r.id || "" } });
  if (!r.id) return bar;
  const path = `/runs/${encodeURIComponent(r.id)}`;
  const message = h("span", { class: "muted action-message" });
  const done = (result) => {
    if (typeof options.onDone === "function") options.onDone(result);
    else go(location.pathname + location.search);
  };
  const act = async (button, fn) => {
    button.disabled = true;
    clear(message);
    try { await fn(); } catch (err) {
      clear(message).append(h("span", { class: "error" }, String(err && err.message ? err.message : err)));
    } finally { button.disabled = false; }
  };
  const button = (key, label, cls, fn) =>
    h("button", { type: "button", class: cls, dataset: { action: key }, onclick: (ev) => act(ev.currentTarget, fn) }, label);

  const running = r.state === "RUNNING";
  if (r.state === "FAILED" || r.state === "CANCELED") {
    bar.append(button("retry", "Retry", "primary", async () => {
      const result = await post(`${path}/retry`);
      go(result.url);
    }));
  }
  bar.append(button("clone", "Clone", "", async () => cloneDialog(r)));
  if (running) {
    bar.append(button("terminate", "Terminate", "danger", async () => confirmDialog(
      `Terminate ${r.id}?`, "Its steps are stopped and its exit handlers run; the run ends CANCELED.",
      "Terminate", "danger", async () => done(await post(`${path}/terminate`)))));
  }
  if (r.lifecycle === "active" && !running) {
    bar.append(button("archive", "Archive", "", async () => done(await post(`${path}/archive`))));
  }
  if (r.lifecycle !== "active") {
    bar.append(button("restore", "Restore", "", async () => done(await post(`${path}/restore`))));
  }
  if (r.lifecycle !== "deleted" && !running) {
    bar.append(button("delete", "Delete", "danger", async () => deleteDialog(r, done)));
  }
  bar.append(message);
  return bar;
}

