// What every page does first: translations and the language switch, the service worker, and
// the "ask for a new link" view that replaces the page when the link is missing or expired.
import { $, h, replace } from "./dom.js";
import { bindSwitch, t, translate } from "./i18n.js";
import { problem } from "./session.js";

const GATES = {
  missing: ["gate.missing.title", "gate.missing.body"],
  invalid: ["gate.invalid.title", "gate.invalid.body"],
  expired: ["gate.expired.title", "gate.expired.body"],
  "other-user": ["gate.other.title", "gate.other.body"],
};
let gateShown = null;

export function boot({ onLanguage } = {}) {
  translate();
  bindSwitch($("#lang"));
  window.addEventListener("bm:lang", () => {
    if (gateShown) showGate(gateShown);
    onLanguage?.();
  });
  window.addEventListener("bm:auth", (event) => showGate(event.detail));
  registerServiceWorker();
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js").catch(() => { /* pages work without it */ });
}

// Checks the link for the user the page is about; shows the gate and returns false if unusable.
export function requireLink(expectedUserId) {
  const issue = problem(expectedUserId);
  if (issue) { showGate(issue); return false; }
  return true;
}

export function showGate(kind) {
  const [title, body] = GATES[kind] || GATES.expired;
  gateShown = kind in GATES ? kind : "expired";
  const app = $("#app");
  if (app) app.hidden = true;
  const gate = $("#gate");
  const heading = h("h1", { id: "gate-title", tabindex: "-1", text: t(title) });
  replace(gate,
    h("section", { class: "card gate", "data-testid": `gate-${gateShown}`, "aria-labelledby": "gate-title" },
      heading,
      h("p", { text: t(body) }),
      h("p", { class: "muted", text: t("gate.help") })));
  gate.hidden = false;
  heading.focus();
}

// The explanation shown when Stripe.js cannot be loaded, with a retry button.
export function stripeBlockedPanel(error, onRetry) {
  const reason = error && error.reason ? error.reason : "blocked";
  const retry = h("button", { type: "button", class: "button", "data-testid": "stripejs-retry",
    text: t("stripejs.retry") });
  retry.addEventListener("click", () => { retry.disabled = true; onRetry(); });
  const causes = reason === "not-configured"
    ? [h("li", { text: t("stripejs.not_configured") })]
    : ["stripejs.cause.blocker", "stripejs.cause.network", "stripejs.cause.firewall"]
      .map((key) => h("li", { text: t(key) }));
  return h("div", { class: "banner banner-error", role: "alert", "data-testid": "stripejs-blocked",
    "data-reason": reason },
  h("h2", { class: "banner-title", text: t("stripejs.title") }),
  h("p", { text: t("stripejs.body") }),
  h("ul", {}, causes),
  h("p", { class: "muted mono", text: error && error.url ? t("stripejs.url", { url: error.url }) : "" }),
  reason === "not-configured" ? null : retry);
}
