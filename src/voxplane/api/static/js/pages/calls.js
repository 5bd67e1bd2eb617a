import { get, query } from "../api.js";
import { field, h, table, when, put } from "../dom.js";
import { go, params } from "../app.js";

const TRANSPORTS = ["", "webrtc", "sip", "twilio", "telnyx", "simulated"];
const REASONS = ["", "caller_hangup", "agent_hangup", "transfer", "silence", "max_duration", "shutdown", "error"];

function nextDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().replace(".000Z", "Z");
}

export async function render(main) {
  const p = params();
  const agents = (await get(`/v1/agents${query({ limit: 200 })}`)).items;
  const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
  const agent = field("Agent", { name: "agent_id", tag: "select", options: [["", "any"], ...agents.map((a) => [a.id, a.name])], value: p.get("agent_id") ?? "" });
  const transport = field("Transport", { name: "transport", tag: "select", options: TRANSPORTS.map((t) => [t, t || "any"]), value: p.get("transport") ?? "" });
  const reason = field("End reason", { name: "end_reason", tag: "select", options: REASONS.map((r) => [r, r ? r.replace("_", " ") : "any"]), value: p.get("end_reason") ?? "" });
  const from = field("From (UTC day)", { name: "from", type: "date", value: p.get("from") ?? "" });
  const to = field("To (UTC day)", { name: "to", type: "date", value: p.get("to") ?? "" });
  const form = h("form", { class: "panel row", "aria-label": "Filters" }, agent.row, transport.row, reason.row, from.row, to.row,
    h("div", { class: "field" }, h("button", { type: "submit" }, "Filter")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = query({ agent_id: agent.input.value, transport: transport.input.value, end_reason: reason.input.value, from: from.input.value, to: to.input.value });
    go(`calls${q}`);
  });

  const filters = {
    agent_id: p.get("agent_id"), transport: p.get("transport"), end_reason: p.get("end_reason"),
    started_after: p.get("from") ? `${p.get("from")}T00:00:00Z` : null,
    started_before: p.get("to") ? nextDay(p.get("to")) : null,
    limit: 50, cursor: p.get("cursor"),
  };
  const page = await get(`/v1/calls${query(filters)}`);
  const more = page.next_cursor
    ? h("p", {}, h("a", { href: `#/calls${query({ ...Object.fromEntries(p), cursor: page.next_cursor })}` }, "Older calls"))
    : null;
  put(main, 
    h("h1", {}, "Calls"), form,
    table([
      ["Started", (c) => h("a", { href: `#/calls/${encodeURIComponent(c.id)}` }, when(c.started_at))],
      ["Agent", (c) => names[c.agent_id] ?? c.agent_id],
      ["Transport", (c) => c.transport],
      ["From", (c) => c.from_number ?? "—"],
      ["Duration", (c) => `${c.duration_s.toFixed(1)} s`],
      ["End reason", (c) => c.end_reason.replace("_", " ")],
    ], page.items, "No calls match."),
    more,
  );
}
