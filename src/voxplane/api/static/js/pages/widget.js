// Publishable keys and the snippet a customer pastes into their own site.

import { get, query } from "../api.js";
import { h, when } from "../dom.js";
import { resourcePage, shownOnce } from "../resource.js";

export function snippet(key, agentId) {
  return `<script type="module" src="${location.origin}/widget.js"\n        data-key="${key}" data-agent="${agentId}"></script>`;
}

export async function render(main) {
  const agents = (await get(`/v1/agents${query({ limit: 200 })}`)).items;
  const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
  await resourcePage(main, {
    title: "Web widget",
    path: "/v1/publishable-keys",
    intro: h("div", { class: "panel" },
      h("p", {}, "A \"talk to us\" button for your own site. Make a publishable key for one agent and the origins of the pages that will show it, then paste the snippet into those pages."),
      h("p", { class: "hint" }, "A publishable key can only start calls with its agent, and only from the origins it lists; revoke it here at any time.")),
    columns: [
      ["Name", (k) => k.name],
      ["Key", (k) => h("span", { class: "mono" }, `${k.prefix}…`)],
      ["Agent", (k) => names[k.agent_id] ?? k.agent_id],
      ["Allowed origins", (k) => k.allowed_origins.join(", ")],
      ["Created", (k) => when(k.created_at)],
      ["Revoked", (k) => when(k.revoked_at)],
    ],
    fields: [
      ["name", "Name", {}],
      ["agent_id", "Agent", { tag: "select", options: agents.map((a) => [a.id, a.name]) }],
      ["allowed_origins", "Allowed origins (comma separated)", { placeholder: "https://www.example.com" }, "scheme://host[:port], no path"],
    ],
    body: (v) => ({
      name: v.name,
      agent_id: v.agent_id,
      allowed_origins: v.allowed_origins.split(",").map((o) => o.trim()).filter(Boolean),
    }),
    created: (k) => shownOnce(`Publishable key ${k.name}`, k.key,
      [h("p", {}, "Paste this into your page:"), h("pre", { id: "snippet" }, snippet(k.key, k.agent_id))]),
    createLabel: "Create a publishable key",
    remove: { label: "Revoke", shown: (k) => !k.revoked_at, confirm: (k) => `Revoke ${k.name}? Pages using it stop working.` },
  });
}
