// One WebRTC call to an agent from a browser: a call token in, a peer connection with the
// microphone, the agent's voice and the "voxplane" data channel out (docs/webrtc.md).
// Shared by the console's Talk page and the embeddable widget.

export class CallError extends Error {
  constructor(message, kind) {
    super(message);
    this.kind = kind;
  }
}

export function microphoneMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was denied. Allow the microphone for this site in the browser (the icon in the address bar) and press Talk again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in and press Talk again.";
    case "NotReadableError":
      return "The microphone is in use by another application.";
    default:
      return `The microphone cannot be used: ${error?.message ?? error}`;
  }
}

function gathered(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs); // send what was gathered so far
  });
}

/**
 * Start a call. ``token`` is a call token (POST /v1/webrtc/tokens) and ``iceServers`` the
 * STUN/TURN servers that came with it; ``base`` the server's origin ("" for this one). ``onMessage`` gets each data-channel message (parsed JSON),
 * ``onEnd`` once, with the reason. Returns {callId, hangup()}.
 */
export async function startCall({ token, iceServers = [], base = "", onMessage, onEnd, audio }) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new CallError("This browser cannot use a microphone here (it needs HTTPS or localhost).", "microphone");
  }
  let mic;
  try {
    mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
  } catch (error) {
    throw new CallError(microphoneMessage(error), "microphone");
  }
  const pc = new RTCPeerConnection({ iceServers });
  let ended = false;
  const end = (reason) => {
    if (ended) return;
    ended = true;
    mic.getTracks().forEach((t) => t.stop());
    try { pc.close(); } catch { /* closed already */ }
    onEnd?.(reason);
  };
  mic.getTracks().forEach((t) => pc.addTrack(t, mic));
  const channel = pc.createDataChannel("voxplane");
  channel.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    onMessage?.(message);
    if (message.type === "state" && message.state === "ended") end("ended");
  };
  channel.onclose = () => end("closed");
  pc.ontrack = (event) => {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    const player = audio ?? new Audio();
    player.srcObject = stream;
    player.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") end("failed");
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    let response;
    try {
      response = await fetch(`${base}/v1/webrtc/calls`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }),
      });
    } catch {
      throw new CallError("The server cannot be reached.", "network");
    }
    if (response.status === 404 || response.status === 405) {
      throw new CallError("This server does not take WebRTC calls (it runs without the webrtc extra: pip install 'voxplane[webrtc]').", "refused");
    }
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
      throw new CallError(`The call was refused (${response.status}): ${detail}`, "refused");
    }
    const answer = await response.json();
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    return {
      callId: answer.call_id,
      hangup() {
        if (channel.readyState === "open") channel.send(JSON.stringify({ type: "hangup" }));
        setTimeout(() => end("hangup"), 300);
      },
      end,
    };
  } catch (error) {
    ended = true;
    mic.getTracks().forEach((t) => t.stop());
    pc.close();
    throw error;
  }
}
