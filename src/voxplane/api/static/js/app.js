// The console's shell: hash routes, the navigation, who is signed in and in which tenant.

import { api, ApiError, logout, session, whenSignedOut } from "./api.js";
import { clear, h, notice } from "./dom.js";

const PAGES = [
  ["agents", "Agents"],
  ["calls", "Calls"],
  ["numbers", "Phone numbers"],
  ["trunks", "SIP trunks"],
  ["keys", "API keys"],
  ["credentials", "Credentials"],
  ["usage", "Usage"],
  ["widget", "Web widget"],
];

const ROUTES = [
  [/^login$/, "login"],
  [/^agents$/, "agents"],
  [/^agents\/new$/, "agent", () => ({ id: null })],
  [/^agents\/([^/]+)$/, "agent", (m) => ({ id: m[1] })],
  [/^agents\/([^/]+)\/versions$/, "versions", (m) => ({ id: m[1] })],
  [/^agents\/([^/]+)\/talk$/, "talk", (m) => ({ id: m[1] })],
  [/^calls$/, "calls"],
  [/^calls\/([^/]+)$/, "call", (m) => ({ id: m[1] })],
  [/^numbers$/, "numbers"],
  [/^trunks$/, "trunks"],
  [/^keys$/, "keys"],
  [/^credentials$/, "credentials"],
  [/^usage$/, "usage"],
  [/^widget$/, "widget"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let leaving = null; // a page's cleanup (a Talk page hangs up)
let tenantsFor = null; // the tenant list, fetched once per access token

function path() {
  return decodeURIComponent(location.hash.replace(/^#\/?/, "").split("?")[0]) || "agents";
}

export function params() {
  return new URLSearchParams(location.hash.split("?")[1] ?? "");
}

export function go(to) {
  location.hash = `#/${to}`;
}

/** Called by a page that needs cleanup when the user navigates away. */
export function onLeave(callback) {
  leaving = callback;
}

function renderNav(current) {
  clear(nav);
  for (const [route, title] of PAGES) {
    const here = current === route || current.startsWith(`${route}/`);
    nav.append(h("a", { href: `#/${route}`, "aria-current": here ? "page" : null }, title));
  }
}

async function renderWho() {
  clear(who);
  const current = session();
  if (!current) return;
  who.append(h("span", { class: "email" }, current.email ?? ""));
  try {
    if (tenantsFor?.access !== current.access) {
      tenantsFor = { access: current.access, list: await api("GET", "/v1/auth/tenants") };
    }
    const tenants = tenantsFor.list;
    const select = h("select", { id: "tenant", "aria-label": "Tenant" },
      tenants.map((t) => h("option", { value: t.id, selected: t.current }, `${t.name} (${t.role})`)));
    select.addEventListener("change", async () => {
      try {
        const pair = await api("POST", "/v1/auth/switch", { tenant_id: select.value });
        sessionStorage.setItem("voxplane.session",
          JSON.stringify({ ...session(), access: pair.access_token, refresh: pair.refresh_token }));
        go("agents");
        route();
      } catch (error) {
        main.prepend(notice(`Cannot switch tenant: ${error.message}`));
      }
    });
    who.append(select);
  } catch {
    // an old server or an API key session: no switcher
  }
  who.append(h("button", { type: "button", class: "secondary", onclick: signOut }, "Log out"));
}

async function signOut() {
  await logout();
  go("login");
}

async function route() {
  if (leaving) {
    const cleanup = leaving;
    leaving = null;
    try { await cleanup(); } catch { /* the page is going anyway */ }
  }
  const here = path();
  if (!session() && here !== "login") {
    go("login");
    return;
  }
  let found = null;
  for (const [pattern, page, read] of ROUTES) {
    const match = here.match(pattern);
    if (match) {
      found = [page, read ? read(match) : {}];
      break;
    }
  }
  nav.hidden = here === "login";
  renderNav(here);
  clear(main);
  if (!found) {
    main.append(h("h1", {}, "Not found"), notice(`There is no page "${here}".`));
    return;
  }
  const [page, args] = found;
  try {
    const module = await import(`./pages/${page}.js`);
    await module.render(main, args);
  } catch (error) {
    if (error instanceof ApiError) {
      main.append(notice(error.status === 404
        ? `Not found: ${error.message}. It may belong to another tenant or have been deleted.`
        : `Error ${error.status}: ${error.message}`));
    } else {
      main.append(notice(`Something went wrong: ${error.message}`));
      console.error(error);
    }
  }
  if (page !== "login") renderWho(); else clear(who);
  // a page that focused a control of its own keeps it; otherwise start from the content
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

whenSignedOut(() => { if (path() !== "login") go("login"); });
window.addEventListener("hashchange", route);

const toggle = document.querySelector(".menu-toggle");
toggle.addEventListener("click", () => {
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("collapsed", !open);
});
if (matchMedia("(max-width: 720px)").matches) nav.classList.add("collapsed");

route();
