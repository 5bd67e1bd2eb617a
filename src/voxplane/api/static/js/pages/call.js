// One call: its transcript (interrupted turns marked), recording and latency.

import { ApiError, get, raw } from "../api.js";
import { h, notice, when, put } from "../dom.js";
import { legend, waterfall } from "../charts.js";
import { transcriptItem } from "./talk.js";
import { onLeave } from "../app.js";

export async function render(main, { id }) {
  const call = await get(`/v1/calls/${encodeURIComponent(id)}`);
  const facts = [
    ["Agent", h("a", { href: `#/agents/${encodeURIComponent(call.agent_id)}` }, `${call.agent_id} (version ${call.agent_version})`)],
    ["Transport", call.transport], ["Direction", call.direction],
    ["From", call.from_number ?? "—"], ["To", call.to_number ?? "—"],
    ["Started", when(call.started_at)], ["Ended", when(call.ended_at)],
    ["Duration", `${call.duration_s.toFixed(1)} s`], ["End reason", call.end_reason.replace("_", " ")],
  ];
  const recording = h("div", { id: "recording" }, h("p", { class: "hint" }, "Loading the recording…"));
  put(main, 
    h("h1", {}, "Call ", h("span", { class: "mono" }, call.id)),
    h("div", { class: "panel" }, h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("div", { class: "split" },
      h("section", { class: "panel", "aria-labelledby": "tr" }, h("h2", { id: "tr" }, "Transcript"),
        call.turns.length ? h("ol", { class: "transcript", id: "transcript", tabindex: "0", "aria-label": "Transcript" }, call.turns.map(transcriptItem)) : h("p", { class: "empty" }, "Nothing was said.")),
      h("section", { class: "panel", "aria-labelledby": "lt" }, h("h2", { id: "lt" }, "Latency"),
        call.metrics.length ? [legend(), waterfall(call.metrics)] : h("p", { class: "empty" }, "No answers were timed."))),
    h("section", { class: "panel", "aria-labelledby": "rec" }, h("h2", { id: "rec" }, "Recording"), recording),
  );
  let url = null;
  onLeave(() => url && URL.revokeObjectURL(url));
  try {
    // fetched with the bearer token (an <audio src> cannot send it), played from memory
    const blob = await (await raw("GET", `/v1/calls/${encodeURIComponent(id)}/recording`)).blob();
    url = URL.createObjectURL(blob);
    recording.replaceChildren(
      h("audio", { controls: true, src: url, "aria-label": "Call recording (caller left, agent right)" }),
      h("p", { class: "hint" }, "Stereo: the caller on the left, the agent on the right. ",
        h("a", { href: url, download: `${call.id}.wav` }, "Download")));
  } catch (error) {
    recording.replaceChildren(error instanceof ApiError && error.status === 404
      ? h("p", { class: "empty" }, "This call has no recording (the agent does not record, or it was purged).")
      : notice(`The recording cannot be loaded: ${error.message}`));
  }
}
