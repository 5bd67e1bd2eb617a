import { get, query } from "../api.js";
import { field, h, table, put } from "../dom.js";
import { bars } from "../charts.js";
import { go, params } from "../app.js";

export async function render(main) {
  const p = params();
  const start = field("From", { name: "start", type: "date", value: p.get("start") ?? "" });
  const end = field("To", { name: "end", type: "date", value: p.get("end") ?? "" });
  const form = h("form", { class: "panel row", "aria-label": "Period" }, start.row, end.row,
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`usage${query({ start: start.input.value, end: end.input.value })}`);
  });
  const days = await get(`/v1/usage${query({ start: p.get("start"), end: p.get("end") })}`);
  const minutes = days.map((d) => ({ label: String(d.day), value: Math.round(d.call_seconds / 6) / 10 }));
  put(main, 
    h("h1", {}, "Usage"), form,
    h("section", { class: "panel", "aria-labelledby": "m" }, h("h2", { id: "m" }, "Call minutes per day (UTC)"),
      days.length ? bars(minutes, "Call minutes per day", " min") : h("p", { class: "empty" }, "No calls in this period.")),
    table([
      ["Day", (d) => String(d.day)], ["Calls", (d) => String(d.calls)],
      ["Minutes", (d) => (d.call_seconds / 60).toFixed(1)], ["STT s", (d) => d.stt_s.toFixed(1)],
      ["TTS chars", (d) => String(d.tts_chars)], ["LLM tokens", (d) => String(d.llm_tokens)],
    ], [...days].reverse(), "No usage."),
  );
}
