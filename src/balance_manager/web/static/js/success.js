// /payment-success.html?userId=… — where Stripe.js returns after confirmSetup. It reads
// redirect_status and the SetupIntent and says what really happened (the original always
// claimed success): succeeded → the service verifies and saves the card; processing → not yet;
// failed → why, from the SetupIntent's last error. A card saved beside another default is
// offered as the new default (a new card ends the wait after a declined charge and, below the
// minimum, recharges at once). Then the balance, and "recharge now".
import { $, announce, h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { appConfig } from "./config.js";
import { endpoints } from "./api.js";
import { boot, requireLink, stripeBlockedPanel } from "./shell.js";
import { userId as linkUser } from "./session.js";
import { money } from "./format.js";
import { cardLabel } from "./cards.js";
import { nextRecharge, renderRechargeButton, renderStatusPill } from "./balance.js";
import { stripeFor } from "./stripe-loader.js";
import { errorText, rechargeOutcome } from "./messages.js";
import { authenticateRecharge } from "./sca.js";

const params = new URLSearchParams(location.search);
const setupIntentId = params.get("setup_intent");
const clientSecret = params.get("setup_intent_client_secret");
const redirectStatus = params.get("redirect_status");
const state = { userId: null, config: null, status: null, outcome: null, polls: 0, cardSaved: false };
const POLL_MS = 500;

// The client secret has been read; keep it out of the address bar (and so out of bookmarks).
if (clientSecret) {
  const clean = new URLSearchParams(location.search);
  clean.delete("setup_intent_client_secret");
  history.replaceState(history.state, "", `${location.pathname}?${clean}`);
}

// body and actions: functions, so a language switch re-renders them in the new language.
function showOutcome(kind, titleKey, body = () => "", { focus = true, actions = () => [] } = {}) {
  state.outcome = { kind, titleKey, body, actions };
  const box = $("#outcome");
  box.dataset.outcome = kind;
  box.className = `card outcome outcome-${kind}`;
  $("#outcome-title").textContent = t(titleKey);
  $("#outcome-body").textContent = body();
  replace($("#outcome-actions"), actions());
  if (focus) $("#outcome-title").focus();
}

// card: the card just saved; current: the default card, when it is another one (undefined if
// the list no longer shows it).
function showSaved(card, isDefault, current) {
  const label = () => (card.last4 ? cardLabel(card) : t("cards.card"));
  if (isDefault) {
    showOutcome("succeeded", "success.ok_title", () => t("success.ok_default", { card: label() }));
    return;
  }
  const currentLabel = () => (current ? cardLabel(current) : t("success.current_default"));
  showOutcome("succeeded", "success.ok_title",
    () => t("success.ok_saved", { card: label(), current: currentLabel() }), {
      actions: () => [h("button", { type: "button", class: "button", "data-testid": "make-default",
        text: t("success.make_default", { card: label() }), onclick: (e) => makeDefault(e.currentTarget, card, label) })],
    });
}

async function makeDefault(button, card, label) {
  const out = $("#outcome-result");
  button.disabled = true;
  try {
    await endpoints.makeDefault(state.userId, card.id);
  } catch (err) {
    button.disabled = false;
    out.dataset.tone = "error";
    out.textContent = errorText(err);
    return;
  }
  out.textContent = "";
  state.cardSaved = true;
  showOutcome("succeeded", "success.ok_title", () => t("success.ok_default", { card: label() }));
  state.polls = 0;
  await loadStatus();
}

async function failureReason() {
  if (!clientSecret) return null;
  try {
    const stripe = await stripeFor(state.config);
    const { setupIntent, error } = await stripe.retrieveSetupIntent(clientSecret);
    if (error) return error.message;
    const last = setupIntent && setupIntent.last_setup_error;
    return last ? last.message : null;
  } catch (err) {
    replace($("#stripejs-status"), stripeBlockedPanel(err, () => location.reload()));
    return null;
  }
}

async function settleOutcome() {
  if (!setupIntentId || !redirectStatus) {
    showOutcome("none", "success.none_title", () => t("success.none_body"));
    return;
  }
  if (redirectStatus === "succeeded") {
    try {
      const done = await endpoints.completeSetup(state.userId, setupIntentId);
      const { methods } = await endpoints.methods(state.userId);
      const card = methods.find((m) => m.id === done.paymentMethodId);
      const isDefault = done.defaultPaymentMethodId === done.paymentMethodId;
      state.cardSaved = isDefault;
      const current = methods.find((m) => m.id === done.defaultPaymentMethodId);
      showSaved(card || { id: done.paymentMethodId }, isDefault, current);
    } catch (err) {
      if (err.code === "setup_intent_not_succeeded") {
        showOutcome("processing", "success.processing_title", () => t("success.processing_body"));
      } else {
        showOutcome("failed", "success.failed_title", () => errorText(err));
      }
    }
    return;
  }
  if (redirectStatus === "processing") {
    showOutcome("processing", "success.processing_title", () => t("success.processing_body"));
    return;
  }
  const reason = await failureReason();
  showOutcome("failed", "success.failed_title",
    () => (reason ? t("success.failed_reason", { reason }) : t("success.failed_body")));
}

let pollTimer = null;

async function loadStatus() {
  clearTimeout(pollTimer);
  try {
    state.status = await endpoints.status(state.userId);
  } catch {
    return;
  }
  renderStatus();
  // A recharge the new card made possible may be running (or about to open, if the service
  // learns of the card from Stripe's webhook): show it land.
  const st = state.status;
  const expected = state.cardSaved && st.needsRecharge && st.autoRechargeEnabled && state.polls < 20;
  if ((st.pendingRechargeId && state.polls < 240) || expected) {
    state.polls += 1;
    pollTimer = setTimeout(loadStatus, POLL_MS);
  }
}

function renderStatus() {
  const st = state.status;
  if (!st) return;
  const c = st.currency;
  $("[data-testid=balance-current]").textContent = money(st.currentBalance, c);
  $("[data-testid=balance-minimum]").textContent = money(st.minimumBalance, c);
  $("[data-testid=balance-target]").textContent = money(st.targetBalance, c);
  renderStatusPill($("[data-testid=balance-status]"), st);
  $("[data-testid=next-recharge]").textContent = st.pendingRechargeId ? t("processing.body") : nextRecharge(st, state.config);
  renderRechargeButton($("#recharge-now"), $("#recharge-why"), st, state.config);
}

async function rechargeNow(event) {
  const button = event.currentTarget;
  const out = $("#recharge-result");
  button.disabled = true;
  out.dataset.tone = "info";
  out.textContent = t("recharge.running");
  try {
    const result = await endpoints.recharge(state.userId);
    const outcome = rechargeOutcome(result, state.status.currency, result.newBalance);
    out.dataset.tone = outcome.tone;
    out.dataset.status = result.status;
    out.textContent = outcome.text;
    if (result.status === "requires_action") offerAuthentication(out, result.rechargeId);
  } catch (err) {
    out.dataset.tone = "error";
    out.dataset.status = "error";
    out.textContent = errorText(err);
  }
  announce(out.textContent);
  await loadStatus();
}

function offerAuthentication(out, rechargeId) {
  const button = h("button", { type: "button", class: "button", "data-testid": "authenticate", text: t("action.authenticate") });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const { record, stripeError } = await authenticateRecharge({ config: state.config, userId: state.userId, rechargeId });
      const outcome = rechargeOutcome(record, state.status.currency);
      out.dataset.tone = outcome.tone;
      out.dataset.status = record.status;
      out.textContent = record.status === "failed" && stripeError ? t("recharge.failed", { reason: stripeError.message }) : outcome.text;
    } catch (err) {
      out.dataset.tone = "error";
      out.textContent = errorText(err);
    }
    await loadStatus();
  });
  out.append(" ", button);
}

async function main() {
  boot({
    onLanguage: () => {
      renderStatus();
      const o = state.outcome;
      if (o) showOutcome(o.kind, o.titleKey, o.body, { focus: false, actions: o.actions });
    },
  });
  const expected = params.get("userId");
  if (!requireLink(expected)) return;
  state.userId = expected || linkUser();
  $("#app").hidden = false;
  $("#manage-cards").setAttribute("href", `stripe-payment.html?userId=${encodeURIComponent(state.userId)}`);
  $("#recharge-now").addEventListener("click", rechargeNow);
  try { state.config = await appConfig(); } catch { state.config = {}; }
  await settleOutcome();
  await loadStatus();
}

main();
