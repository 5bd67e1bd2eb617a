import { get, query } from "../api.js";
import { h, table, when, put } from "../dom.js";

export async function render(main) {
  const page = await get(`/v1/agents${query({ limit: 200 })}`);
  put(main, 
    h("div", { class: "actions" }, h("h1", {}, "Agents"), h("a", { href: "#/agents/new", class: "button" }, "New agent")),
    table([
      ["Name", (a) => h("a", { href: `#/agents/${encodeURIComponent(a.id)}` }, a.name)],
      ["Version", (a) => String(a.version)],
      ["Updated", (a) => when(a.updated_at)],
      ["", (a) => h("span", { class: "actions" },
        h("a", { href: `#/agents/${encodeURIComponent(a.id)}/talk` }, "Talk"),
        h("a", { href: `#/agents/${encodeURIComponent(a.id)}/versions` }, "Versions"),
        h("a", { href: `#/calls?agent_id=${encodeURIComponent(a.id)}` }, "Calls"))],
    ], page.items, "No agents yet: create one."),
  );
}
