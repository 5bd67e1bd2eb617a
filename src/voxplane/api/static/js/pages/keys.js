import { h, when } from "../dom.js";
import { resourcePage, shownOnce } from "../resource.js";

export async function render(main) {
  await resourcePage(main, {
    title: "API keys",
    path: "/v1/api-keys",
    intro: h("p", { class: "hint" }, "Keys for your back end. Never put one in a web page: use a publishable key (Web widget) there."),
    columns: [
      ["Name", (k) => k.name],
      ["Key", (k) => h("span", { class: "mono" }, `${k.prefix}…`)],
      ["Role", (k) => k.role],
      ["Created", (k) => when(k.created_at)],
      ["Last used", (k) => when(k.last_used_at)],
      ["Revoked", (k) => when(k.revoked_at)],
    ],
    fields: [
      ["name", "Name", {}],
      ["role", "Role", { tag: "select", options: ["developer", "viewer", "admin", "owner"], value: "developer" }],
    ],
    body: (v) => v,
    created: (k) => shownOnce(`API key ${k.name}`, k.secret),
    createLabel: "Create an API key",
    remove: { label: "Revoke", shown: (k) => !k.revoked_at, confirm: (k) => `Revoke ${k.name}? Whatever uses it stops working.` },
  });
}
