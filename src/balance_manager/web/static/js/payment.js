// /stripe-payment.html?userId=… (the original's page): save a card through the Customer Portal
// (redirect there and back to this page) or Stripe's Payment Element (a SetupIntent confirmed
// here, returning to /payment-success.html). Stripe.js is loaded at once so a blocked script
// is explained before the customer starts typing.
import { $, h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { appConfig } from "./config.js";
import { endpoints } from "./api.js";
import { boot, requireLink, stripeBlockedPanel } from "./shell.js";
import { userId as linkUser } from "./session.js";
import { renderCards } from "./cards.js";
import { APPEARANCE, loadStripeJs, stripeFor } from "./stripe-loader.js";
import { errorText } from "./messages.js";

const params = new URLSearchParams(location.search);
const state = { userId: null, config: null, stripe: null, elements: null, methods: null, methodsError: null };

function here() {
  return `${location.origin}${location.pathname}?userId=${encodeURIComponent(state.userId)}`;
}

async function checkStripeJs() {
  const slot = $("#stripejs-status");
  try {
    state.config = state.config || await appConfig();
    await loadStripeJs(state.config.stripeJsUrl);
    if (!state.config.publishableKey) throw Object.assign(new Error("no key"), { reason: "not-configured" });
    replace(slot);
    $("#choose-element").disabled = false;
    return true;
  } catch (err) {
    replace(slot, stripeBlockedPanel(err, () => checkStripeJs()));
    $("#choose-element").disabled = true;
    return false;
  }
}

async function loadCards() {
  try {
    state.methods = (await endpoints.methods(state.userId)).methods;
    state.methodsError = null;
  } catch (err) {
    state.methods = null;
    state.methodsError = err;
  }
  renderSaved();
}

function renderSaved() {
  const slot = $("#saved-cards");
  if (state.methodsError) {
    replace(slot, h("p", { class: "empty", "data-testid": "cards-error", text: errorText(state.methodsError) }));
  } else if (state.methods) {
    replace(slot, renderCards(state.methods));
  }
}

async function openPortal(event) {
  const button = event.currentTarget;
  const out = $("#portal-result");
  button.disabled = true;
  out.textContent = t("payment.portal_opening");
  try {
    const { portalUrl } = await endpoints.portal(state.userId, here()).catch((err) => {
      if (err.code === "invalid_return_url") return endpoints.portal(state.userId, null);
      throw err;
    });
    location.assign(portalUrl);
  } catch (err) {
    out.textContent = errorText(err);
    out.dataset.tone = "error";
    button.disabled = false;
  }
}

async function openElement() {
  const button = $("#choose-element");
  const error = $("#element-error");
  button.disabled = true;
  error.textContent = "";
  try {
    if (!(await checkStripeJs())) return;
    state.stripe = state.stripe || await stripeFor(state.config);
    const { clientSecret } = await endpoints.setupIntent(state.userId);
    // Stripe.js names Simplified Chinese "zh".
    const locale = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
    state.elements = state.stripe.elements({ clientSecret, appearance: APPEARANCE, locale });
    const element = state.elements.create("payment");
    const form = $("#element-form");
    replace($("#payment-element"));
    form.hidden = false;
    element.on("ready", () => { element.focus(); });
    element.mount("#payment-element");
    button.hidden = true;
  } catch (err) {
    error.textContent = errorText(err);
    button.disabled = false;
  }
}

async function saveCard(event) {
  event.preventDefault();
  const button = $("#save-card");
  const error = $("#element-error");
  button.disabled = true;
  error.textContent = "";
  const returnUrl = `${location.origin}${location.pathname.replace(/[^/]*$/, "")}payment-success.html?userId=${encodeURIComponent(state.userId)}`;
  try {
    // On success Stripe.js navigates to the success page; it returns only with an error
    // (declined card, failed authentication, incomplete form).
    const result = await state.stripe.confirmSetup({ elements: state.elements, confirmParams: { return_url: returnUrl } });
    if (result && result.error) error.textContent = result.error.message || t("error.unknown");
  } catch (err) {
    error.textContent = errorText(err);
  }
  button.disabled = false;
}

function main() {
  boot({ onLanguage: renderSaved });
  const expected = params.get("userId");
  if (!requireLink(expected)) return;
  state.userId = expected || linkUser();
  $("#app").hidden = false;
  $("#choose-portal").addEventListener("click", openPortal);
  $("#choose-element").addEventListener("click", openElement);
  $("#element-form").addEventListener("submit", saveCard);
  loadCards();
  checkStripeJs().then((ok) => { if (ok && params.get("method") === "element") openElement(); });
}

main();
