// A list of one kind of resource with a create form; shared by the simpler pages.

import { ApiError, api, get, query } from "./api.js";
import { clear, field, h, notice, showProblem, table, put } from "./dom.js";

/**
 * spec: {title, path, columns: [[title, row => node]], fields: [[name, label, attrs]],
 *        body(values) => request body, created(result) => node shown once (optional),
 *        remove: {label, confirm(row)} (optional), intro (optional)}
 */
export async function resourcePage(main, spec) {
  const list = h("div", { id: "list" });
  const status = h("div", { class: "messages" });

  async function load() {
    const page = await get(`${spec.path}${query({ limit: 200 })}`);
    const columns = [...spec.columns];
    if (spec.remove) {
      columns.push(["", (row) => spec.remove.shown && !spec.remove.shown(row) ? "" :
        h("button", { type: "button", class: "danger", onclick: () => remove(row) }, spec.remove.label)]);
    }
    list.replaceChildren(table(columns, page.items ?? page, spec.empty ?? "None yet."));
  }

  async function remove(row) {
    if (!confirm(spec.remove.confirm(row))) return;
    try {
      await api("DELETE", `${spec.path}/${encodeURIComponent(row.id)}`);
      status.replaceChildren(notice("Done.", "ok"));
      await load();
    } catch (error) {
      status.replaceChildren(notice(error.message));
    }
  }

  put(main, h("h1", {}, spec.title), spec.intro ?? null, status);
  if (spec.fields) {
    const made = spec.fields.map(([name, label, attrs, hint]) => [name, field(label, { name, ...attrs }, hint)]);
    const submit = h("button", { type: "submit" }, spec.createLabel ?? "Create");
    const form = h("form", { class: "panel", novalidate: true, "aria-label": spec.createLabel ?? "Create" },
      h("h2", {}, spec.createLabel ?? "Create"), h("p", { class: "form-error", role: "alert" }),
      h("div", { class: "row" }, made.map(([, f]) => f.row)), submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showProblem(form, null);
      submit.disabled = true;
      try {
        const values = Object.fromEntries(made.map(([name, f]) => [name, f.input.value.trim()]));
        const result = await api("POST", spec.path, spec.body(values));
        clear(status);
        status.append(spec.created ? spec.created(result) : notice("Created.", "ok"));
        form.reset();
        await load();
      } catch (error) {
        showProblem(form, error instanceof ApiError ? error.problem : { detail: error.message });
      } finally {
        submit.disabled = false;
      }
    });
    put(main, form);
  }
  put(main, h("h2", {}, "All"), list);
  try {
    await load();
  } catch (error) {
    list.replaceChildren(notice(error.status === 403 ? `Your role cannot see this: ${error.message}` : error.message));
  }
}

/** A secret shown once, with a copy button. */
export function shownOnce(label, secret, more) {
  const code = h("code", { id: "secret" }, secret);
  const copy = h("button", { type: "button", class: "secondary", onclick: async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy it"; }
  } }, "Copy");
  return h("div", { class: "secret", role: "status" },
    h("p", {}, h("strong", {}, label), " — shown once: store it now, it cannot be shown again."),
    h("p", { class: "actions" }, code, copy), more ?? null);
}
