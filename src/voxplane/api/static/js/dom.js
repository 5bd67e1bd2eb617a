// Building the page: every string goes in as text (textContent, attribute values),
// never as HTML, so agent names and transcripts holding "<script>" stay text.

const SVG = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (name === "checked" || name === "disabled" || name === "selected") {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("p", {class: "x"}, "text", h("b", {}, "bold")) */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let fieldIds = 0;

/** A labelled input: {row, input}. */
export function field(label, attrs = {}, hint) {
  const id = attrs.id ?? `f${++fieldIds}`;
  const control = attrs.tag === "select" || attrs.tag === "textarea" ? attrs.tag : "input";
  const { tag, options, ...rest } = attrs;
  const input = h(control, { id, ...rest });
  if (control === "select") {
    for (const option of options ?? []) {
      const [value, text] = Array.isArray(option) ? option : [option, option];
      input.append(h("option", { value, selected: value === attrs.value }, text));
    }
    if (attrs.value !== undefined) input.value = attrs.value;
  }
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", `${id}-error`);
  const row = h("div", { class: "field", dataset: { field: attrs.name ?? "" } },
    h("label", { for: id }, label), input, hint ? h("p", { class: "hint" }, hint) : null, error);
  return { row, input, error };
}

/** Show an API problem's field errors at their fields (matched on data-field, the path
 * without "body."), the rest in the form's summary. */
export function showProblem(form, problem) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const summary = form.querySelector(".form-error");
  const rest = [];
  for (const { field: path, message } of problem?.errors ?? []) {
    const name = String(path).replace(/^body\.?/, "");
    const row = findRow(form, name);
    if (row) {
      row.querySelector(".field-error").textContent = message;
      row.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
    } else {
      rest.push(`${name || "body"}: ${message}`);
    }
  }
  if (summary) {
    summary.textContent = problem ? [problem.detail, ...rest].filter(Boolean).join(" — ") : "";
  }
}

function findRow(form, name) {
  // the longest field name that prefixes the path: "call.first_message" for "call.first_message"
  let best = null;
  for (const row of form.querySelectorAll(".field[data-field]")) {
    const f = row.dataset.field;
    if (f && (name === f || name.startsWith(`${f}.`) || name.startsWith(`${f}[`)) && (!best || f.length > best.dataset.field.length)) {
      best = row;
    }
  }
  return best;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function table(columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))))));
}

export function notice(text, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Append children to an element, skipping null and false (Element.append writes "null"). */
export function put(el, ...children) {
  return fill(el, {}, children);
}
