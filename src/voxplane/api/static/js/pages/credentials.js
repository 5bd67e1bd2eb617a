import { h, when } from "../dom.js";
import { resourcePage } from "../resource.js";

export async function render(main) {
  await resourcePage(main, {
    title: "Credentials",
    path: "/v1/credentials",
    intro: h("p", { class: "hint" }, "Provider secrets, encrypted at rest; only a masked form is ever shown."),
    columns: [
      ["Name", (c) => c.name],
      ["Provider", (c) => c.provider],
      ["Secret", (c) => h("span", { class: "mono" }, c.masked)],
      ["Updated", (c) => when(c.updated_at)],
    ],
    fields: [
      ["name", "Name", {}],
      ["provider", "Provider", { placeholder: "twilio", autocomplete: "off" }],
      ["secret", "Secret", { type: "password", autocomplete: "new-password" }],
    ],
    body: (v) => v,
    createLabel: "Add a credential",
    remove: { label: "Delete", confirm: (c) => `Delete the credential ${c.name}?` },
  });
}
