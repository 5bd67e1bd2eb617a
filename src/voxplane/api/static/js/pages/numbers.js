import { get, query } from "../api.js";
import { h, when } from "../dom.js";
import { resourcePage } from "../resource.js";

export async function render(main) {
  const agents = (await get(`/v1/agents${query({ limit: 200 })}`)).items;
  const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
  await resourcePage(main, {
    title: "Phone numbers",
    path: "/v1/phone-numbers",
    columns: [
      ["Number", (n) => h("span", { class: "mono" }, n.number)],
      ["Label", (n) => n.label ?? "—"],
      ["Agent", (n) => (n.agent_id ? names[n.agent_id] ?? n.agent_id : "none")],
      ["Added", (n) => when(n.created_at)],
    ],
    fields: [
      ["number", "Number (E.164)", { placeholder: "+14155550100", autocomplete: "off" }],
      ["agent_id", "Agent", { tag: "select", options: [["", "none"], ...agents.map((a) => [a.id, a.name])] }],
      ["label", "Label", {}],
    ],
    body: (v) => ({ number: v.number, agent_id: v.agent_id || null, label: v.label || null }),
    createLabel: "Add a number",
    remove: { label: "Remove", confirm: (n) => `Remove ${n.number}?` },
  });
}
