// Small SVG charts built from numbers only (no HTML strings).

import { h, s } from "./dom.js";

const STAGES = [["stt_ms", "stt", "STT"], ["brain_ms", "brain", "brain"], ["tts_ms", "tts", "TTS"]];

export function legend() {
  return h("p", { class: "legend", "aria-hidden": "true" },
    h("span", { class: "stt" }, "STT"), h("span", { class: "brain" }, "brain"),
    h("span", { class: "tts" }, "TTS"), h("span", { class: "v2v" }, "voice to voice"));
}

/** Per turn: STT, brain and TTS one after the other, and voice-to-voice under them. */
export function waterfall(metrics) {
  const width = 640, row = 44, left = 70, right = 20;
  const most = Math.max(1, ...metrics.map((m) =>
    Math.max(m.voice_to_voice_ms ?? 0, (m.stt_ms ?? 0) + (m.brain_ms ?? 0) + (m.tts_ms ?? 0))));
  const scale = (width - left - right) / most;
  const height = Math.max(row, metrics.length * row) + 20;
  const description = metrics.map((m) =>
    `turn ${m.turn}: STT ${m.stt_ms ?? "–"} ms, brain ${m.brain_ms ?? "–"} ms, TTS ${m.tts_ms ?? "–"} ms, voice to voice ${m.voice_to_voice_ms ?? "–"} ms`).join("; ");
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Latency per turn. ${description}` });
  metrics.forEach((m, i) => {
    const y = i * row + 4;
    svg.append(s("text", { x: 0, y: y + 14 }, `turn ${m.turn}`));
    let x = left;
    for (const [key, cls, name] of STAGES) {
      const ms = m[key] ?? 0;
      const w = ms * scale;
      if (w > 0) {
        svg.append(s("rect", { class: cls, x, y, width: w, height: 16 }, s("title", {}, `${name} ${ms} ms`)));
      }
      x += w;
    }
    const v2v = m.voice_to_voice_ms ?? 0;
    svg.append(s("rect", { class: "v2v", x: left, y: y + 20, width: v2v * scale, height: 10 }, s("title", {}, `voice to voice ${v2v} ms`)));
    svg.append(s("text", { x: Math.min(left + v2v * scale + 4, width - 60), y: y + 30 }, `${v2v} ms`));
  });
  svg.append(s("line", { class: "axis", x1: left, y1: 0, x2: left, y2: height }));
  return svg;
}

/** Bars of one value per day. */
export function bars(points, label, unit = "") {
  const width = 640, height = 200, bottom = 30, top = 10, left = 40;
  const most = Math.max(1, ...points.map((p) => p.value));
  const step = (width - left) / Math.max(1, points.length);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${label}: ${points.map((p) => `${p.label} ${p.value}${unit}`).join(", ")}` });
  points.forEach((p, i) => {
    const barHeight = ((height - bottom - top) * p.value) / most;
    const x = left + i * step;
    svg.append(s("rect", { class: "bar", x: x + 2, y: height - bottom - barHeight, width: Math.max(1, step - 4), height: barHeight },
      s("title", {}, `${p.label}: ${p.value}${unit}`)));
    if (points.length <= 16 || i % Math.ceil(points.length / 10) === 0) {
      svg.append(s("text", { x: x + 2, y: height - 12 }, p.label.slice(5)));
    }
  });
  svg.append(s("text", { x: 0, y: top + 10 }, `${most}${unit}`));
  svg.append(s("line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
  return svg;
}
