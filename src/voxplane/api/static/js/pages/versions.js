import { get, query } from "../api.js";
import { clear, field, h, when, put } from "../dom.js";
import { diffLines } from "../diff.js";

function lines(doc) {
  return JSON.stringify(doc, null, 2).split("\n");
}

export async function render(main, { id }) {
  const agent = await get(`/v1/agents/${encodeURIComponent(id)}`);
  const versions = (await get(`/v1/agents/${encodeURIComponent(id)}/versions${query({ limit: 200 })}`)).items;
  const options = versions.map((v) => [String(v.version), `version ${v.version} — ${when(v.created_at)}`]);
  const older = field("From", { tag: "select", options, value: String(versions[1]?.version ?? versions[0]?.version) });
  const newer = field("To", { tag: "select", options, value: String(versions[0]?.version) });
  const out = h("div", { "aria-live": "polite" });

  function show() {
    const from = versions.find((v) => String(v.version) === older.input.value);
    const to = versions.find((v) => String(v.version) === newer.input.value);
    clear(out);
    if (!from || !to) return;
    const diff = diffLines(lines(from.document), lines(to.document));
    const changed = diff.filter(([kind]) => kind !== "same").length;
    out.append(
      h("p", {}, changed ? `${changed} changed lines from version ${from.version} to ${to.version}.` : "No differences."),
      h("div", { class: "diff", role: "region", "aria-label": "Differences", tabindex: "0" },
        diff.map(([kind, text]) => h("div", { class: kind }, text))),
    );
  }
  older.input.addEventListener("change", show);
  newer.input.addEventListener("change", show);
  put(main, 
    h("h1", {}, `Versions of ${agent.name}`),
    h("p", {}, h("a", { href: `#/agents/${encodeURIComponent(id)}` }, "Back to the agent")),
    h("div", { class: "panel" }, h("div", { class: "row" }, older.row, newer.row), out),
  );
  show();
}
