// An agent: a form for the common fields and the whole document as YAML, side by side.
// Either side saves a new version; a 422's field errors are shown at the field.

import { ApiError, api, raw } from "../api.js";
import { field, h, notice, showProblem, put } from "../dom.js";
import { go } from "../app.js";

const TEMPLATE = `name: my-agent
description: A new agent.
stt:
  provider: whisper
tts:
  provider: piper
call:
  first_message: Hello, how can I help you today?
brain:
  type: scripted
  greeting: Hello, how can I help you today?
  reply: Thanks, someone will get back to you.
`;

const NEW_DOCUMENT = {
  brain: { type: "scripted", greeting: "Hello, how can I help you today?", reply: "Thanks, someone will get back to you." },
};

const FORM_FIELDS = [
  ["name", "Name", {}],
  ["description", "Description", {}],
  ["call.first_message", "First message (said when the call connects)", {}],
  ["stt.provider", "Speech to text", { tag: "select", options: ["whisper", "scripted"] }],
  ["tts.provider", "Text to speech", { tag: "select", options: ["piper", "scripted"] }],
  ["call.record", "Record calls", { tag: "select", options: [["true", "yes"], ["false", "no"]] }],
];

function read(doc, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), doc);
}

function write(doc, path, value) {
  const keys = path.split(".");
  let o = doc;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  const last = keys.at(-1);
  if (value === "" && last !== "name") delete o[last];
  else o[last] = value;
}

export async function render(main, { id }) {
  const agent = id ? await api("GET", `/v1/agents/${encodeURIComponent(id)}`) : null;
  const yamlText = id ? await (await raw("GET", `/v1/agents/${encodeURIComponent(id)}/yaml`)).text() : TEMPLATE;
  const title = agent ? `Agent: ${agent.name}` : "New agent";

  const inputs = {};
  const formRows = FORM_FIELDS.map(([path, label, attrs]) => {
    const current = agent ? read(agent.document, path) : undefined;
    const made = field(label, { name: path, ...attrs, value: current === undefined ? (path === "call.record" ? "true" : "") : String(current) });
    inputs[path] = made.input;
    return made.row;
  });
  const saveForm = h("button", { type: "submit" }, agent ? "Save form (new version)" : "Create from form");
  const form = h("form", { class: "panel", novalidate: true, "aria-labelledby": "form-title" },
    h("h2", { id: "form-title" }, "Settings"),
    h("p", { class: "form-error", role: "alert" }),
    formRows, saveForm,
    agent ? null : h("p", { class: "hint" }, "A new agent from the form gets a simple scripted brain; write a flow on the YAML side."));

  const yaml = field("Agent document (YAML)", { name: "", tag: "textarea", spellcheck: "false", value: yamlText });
  yaml.input.value = yamlText;
  const saveYaml = h("button", { type: "submit" }, agent ? "Save YAML (new version)" : "Create from YAML");
  const yamlForm = h("form", { class: "panel", novalidate: true, "aria-labelledby": "yaml-title" },
    h("h2", { id: "yaml-title" }, "YAML"),
    h("p", { class: "form-error", role: "alert" }),
    yaml.row, saveYaml);

  const status = h("div", { class: "messages" });

  async function saved(result) {
    status.replaceChildren(notice(`Saved version ${result.version}.`, "ok"));
    if (!agent) go(`agents/${encodeURIComponent(result.id)}`);
    else await refresh();
  }

  async function refresh() {
    const fresh = await api("GET", `/v1/agents/${encodeURIComponent(id)}`);
    for (const [path, input] of Object.entries(inputs)) {
      const v = read(fresh.document, path);
      input.value = v === undefined ? (path === "call.record" ? "true" : "") : String(v);
    }
    yaml.input.value = await (await raw("GET", `/v1/agents/${encodeURIComponent(id)}/yaml`)).text();
    main.querySelector("h1").textContent = `Agent: ${fresh.name} (version ${fresh.version})`;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblem(form, null);
    saveForm.disabled = true;
    try {
      const doc = agent
        ? structuredClone((await api("GET", `/v1/agents/${encodeURIComponent(id)}`)).document)
        : structuredClone(NEW_DOCUMENT);
      for (const [path, input] of Object.entries(inputs)) {
        write(doc, path, path === "call.record" ? input.value === "true" : input.value.trim());
      }
      const result = agent
        ? await api("PUT", `/v1/agents/${encodeURIComponent(id)}`, doc)
        : await api("POST", "/v1/agents", doc);
      await saved(result);
    } catch (error) {
      showProblem(form, error instanceof ApiError ? error.problem : { detail: error.message });
    } finally {
      saveForm.disabled = false;
    }
  });

  yamlForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showProblem(yamlForm, null);
    saveYaml.disabled = true;
    try {
      const response = agent
        ? await raw("PUT", `/v1/agents/${encodeURIComponent(id)}/yaml`, yaml.input.value, "application/yaml")
        : await raw("POST", "/v1/agents/import", yaml.input.value, "application/yaml");
      await saved(await response.json());
    } catch (error) {
      const problem = error instanceof ApiError ? error.problem : { detail: error.message };
      showProblem(yamlForm, problem);
      showProblem(form, problem); // the form shows what it has a field for
    } finally {
      saveYaml.disabled = false;
    }
  });

  put(main, 
    h("h1", {}, agent ? `${title} (version ${agent.version})` : title),
    agent ? h("p", { class: "actions" },
      h("a", { href: `#/agents/${encodeURIComponent(id)}/talk` }, "Talk to it"),
      h("a", { href: `#/agents/${encodeURIComponent(id)}/versions` }, "Versions"),
      h("a", { href: `#/calls?agent_id=${encodeURIComponent(id)}` }, "Calls"),
      h("span", { class: "mono" }, agent.id)) : null,
    status,
    h("div", { class: "split" }, form, yamlForm),
  );
}
