// The "talk to us" button for a customer's own site. Put on the page:
//   <script type="module" src="https://VOXPLANE/widget.js" data-key="vpk_…" data-agent="agt_…"></script>
// The publishable key only works from the origins it allows, and only for its agent.

import { CallError, startCall } from "./js/webcall.js";

const base = new URL(import.meta.url).origin;
const tag = document.querySelector('script[src$="/widget.js"][data-key]');

if (tag) {
  const key = tag.dataset.key;
  const agent = tag.dataset.agent;
  const box = document.createElement("div");
  box.className = "voxplane-widget";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = tag.dataset.label || "Talk to us";
  const status = document.createElement("p");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  box.append(button, status);
  tag.after(box);
  let call = null;

  button.addEventListener("click", async () => {
    if (call) {
      call.hangup();
      return;
    }
    button.disabled = true;
    status.textContent = "Connecting…";
    try {
      const response = await fetch(`${base}/v1/webrtc/tokens`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ agent_id: agent }),
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new CallError(problem.detail ?? `HTTP ${response.status}`, "refused");
      }
      const { token, ice_servers: iceServers } = await response.json();
      call = await startCall({
        token,
        iceServers,
        base,
        onMessage: (m) => {
          if (m.type === "state") status.textContent = { speaking: "Speaking…", listening: "Listening…", thinking: "Thinking…", ended: "Call ended" }[m.state] ?? "";
        },
        onEnd: () => {
          call = null;
          button.textContent = tag.dataset.label || "Talk to us";
          status.textContent = "Call ended";
        },
      });
      button.textContent = "Hang up";
    } catch (error) {
      status.textContent = error.message; // text, never HTML
    } finally {
      button.disabled = false;
    }
  });
}
