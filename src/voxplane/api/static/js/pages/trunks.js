import { h, when } from "../dom.js";
import { resourcePage } from "../resource.js";

export async function render(main) {
  await resourcePage(main, {
    title: "SIP trunks",
    path: "/v1/sip-trunks",
    intro: h("p", { class: "hint" }, "Which networks may call your numbers, and where outbound calls go. Passwords are never shown."),
    columns: [
      ["Name", (t) => t.name],
      ["Inbound networks", (t) => t.inbound_addresses.join(", ") || "—"],
      ["Inbound auth", (t) => (t.inbound_auth ? `${t.inbound_auth.username} / ${t.inbound_auth.password}` : "—")],
      ["Outbound", (t) => (t.outbound_address ? `${t.outbound_address} (${t.outbound_transport})` : "—")],
      ["Updated", (t) => when(t.updated_at)],
    ],
    fields: [
      ["name", "Name", {}],
      ["inbound_addresses", "Inbound networks (CIDR, comma separated)", { placeholder: "203.0.113.0/24" }],
      ["outbound_address", "Outbound address (host:port)", { placeholder: "sip.example.net:5060" }],
    ],
    body: (v) => ({
      name: v.name,
      inbound_addresses: v.inbound_addresses ? v.inbound_addresses.split(",").map((a) => a.trim()).filter(Boolean) : [],
      ...(v.outbound_address ? { outbound_address: v.outbound_address } : {}),
    }),
    createLabel: "Add a trunk",
    remove: { label: "Delete", confirm: (t) => `Delete the trunk ${t.name}?` },
  });
}
