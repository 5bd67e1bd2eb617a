// Talk to an agent from the browser: the live transcript and each answer's latency.

import { ApiError, api } from "../api.js";
import { clear, h, notice, put } from "../dom.js";
import { legend, waterfall } from "../charts.js";
import { CallError, startCall } from "../webcall.js";
import { onLeave } from "../app.js";

export function transcriptItem(m) {
  return h("li", { class: `${m.role}${m.interrupted ? " interrupted" : ""}`, dataset: { start: String(m.start_ms) } },
    h("span", { class: "who-said" }, m.role === "agent" ? "Agent" : "You",
      m.interrupted ? h("span", { class: "tag" }, "interrupted") : null),
    m.text);
}

export async function render(main, { id }) {
  const agent = await api("GET", `/v1/agents/${encodeURIComponent(id)}`);
  const talk = h("button", { type: "button", id: "talk" }, "Talk");
  const hang = h("button", { type: "button", id: "hangup", class: "danger", disabled: true }, "Hang up");
  const state = h("span", { class: "state", id: "call-state", role: "status", "aria-live": "polite" }, "Not connected");
  const errors = h("div", { id: "talk-errors" });
  const transcript = h("ol", { class: "transcript", id: "transcript", "aria-live": "polite", "aria-label": "Transcript", tabindex: "0" });
  const figure = h("p", { class: "figure", id: "latency-figure" }, "–");
  const chart = h("div", { id: "waterfall" });
  const after = h("p", { id: "after-call" });
  const audio = h("audio", { id: "agent-audio", autoplay: true });
  const metrics = [];
  let call = null;

  function show(message) {
    if (message.type === "transcript") {
      const key = `${message.role}:${message.start_ms}`;
      const item = transcriptItem(message);
      item.dataset.key = key;
      const old = transcript.querySelector(`li[data-key="${CSS.escape(key)}"]`);
      if (old) old.replaceWith(item); else transcript.append(item);
      transcript.scrollTop = transcript.scrollHeight;
    } else if (message.type === "metrics") {
      metrics.push(message);
      figure.textContent = `${message.voice_to_voice_ms} ms voice to voice (turn ${message.turn})`;
      chart.replaceChildren(waterfall(metrics));
    } else if (message.type === "state") {
      state.textContent = { speaking: "Agent speaking", listening: "Listening", thinking: "Thinking", ended: "Call ended" }[message.state] ?? message.state;
    } else if (message.type === "call") {
      after.replaceChildren("Call ", h("span", { class: "mono" }, message.call_id));
    } else if (message.type === "transfer") {
      errors.append(notice(`The agent transferred the call to ${message.target}; a browser call cannot be bridged to a phone yet.`, "info"));
    }
  }

  function ended(reason) {
    talk.disabled = false;
    hang.disabled = true;
    if (state.textContent !== "Call ended") state.textContent = reason === "failed" ? "Connection failed" : "Call ended";
    if (reason === "failed") errors.append(notice("The connection to the server failed (ICE or DTLS). Check firewalls and VOXPLANE_WEBRTC_ICE_SERVERS."));
    if (call) {
      after.replaceChildren("Call ended. ",
        h("a", { href: `#/calls/${encodeURIComponent(call.callId)}`, id: "call-link" }, "Open the call record"),
        " (it appears once the server has written it).");
    }
  }

  talk.addEventListener("click", async () => {
    clear(errors);
    clear(transcript);
    metrics.length = 0;
    chart.replaceChildren();
    figure.textContent = "–";
    talk.disabled = true;
    state.textContent = "Connecting…";
    try {
      const minted = await api("POST", "/v1/webrtc/tokens", { agent_id: id });
      call = await startCall({
        token: minted.token, iceServers: minted.ice_servers, onMessage: show, onEnd: ended, audio,
      });
      hang.disabled = false;
      hang.focus();
    } catch (error) {
      talk.disabled = false;
      state.textContent = "Not connected";
      const text = error instanceof CallError || error instanceof ApiError ? error.message : `Cannot start the call: ${error.message}`;
      errors.append(notice(text));
      if (error.kind === "microphone") errors.lastChild.id = "microphone-error";
    }
  });
  hang.addEventListener("click", () => call?.hangup());
  onLeave(() => call?.end("left"));

  put(main, 
    h("h1", {}, `Talk to ${agent.name}`),
    h("p", {}, h("a", { href: `#/agents/${encodeURIComponent(id)}` }, "Back to the agent"), ` · version ${agent.version}`),
    h("div", { class: "panel" },
      h("div", { class: "talk-controls" }, talk, hang, state),
      h("p", { class: "hint" }, "Press Talk and speak: the browser asks for the microphone the first time."),
      errors, audio),
    h("div", { class: "split" },
      h("section", { class: "panel", "aria-labelledby": "t-title" }, h("h2", { id: "t-title" }, "Live transcript"), transcript),
      h("section", { class: "panel", "aria-labelledby": "l-title" }, h("h2", { id: "l-title" }, "Latency per turn"), figure, legend(), chart)),
    after,
  );
}
