// The dashboard (/): balance, next recharge, banners (paused, waiting for authentication),
// settings, cards, history and the balance chart. Reloads itself while a recharge is running.
import { $, announce, h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { appConfig } from "./config.js";
import { ApiError, endpoints } from "./api.js";
import { boot, requireLink, stripeBlockedPanel } from "./shell.js";
import { userId as linkUser } from "./session.js";
import { dateTime, fractionDigits, money } from "./format.js";
import { renderCards, cardLabel } from "./cards.js";
import { nextRecharge, renderRechargeButton, renderStatusPill } from "./balance.js";
import { balanceChart } from "./chart.js";
import { validateSettings } from "./validate.js";
import { authenticateRecharge } from "./sca.js";
import { StripeUnavailable } from "./stripe-loader.js";
import { errorText, failureText, rechargeOutcome } from "./messages.js";

const HISTORY_LIMIT = 10;
const POLL_MS = 1000;

const state = {
  userId: null, config: null, status: null, settings: null, methods: null, methodsError: null,
  history: null, historyPage: 1, ledger: null, action: null, actionNotice: null, formDirty: false,
  loadError: null, fieldErrors: {},
};
let pollTimer = null;

function setResult(el, tone, text) {
  el.textContent = text || "";
  el.dataset.tone = tone || "";
}

async function load() {
  clearTimeout(pollTimer);
  const id = state.userId;
  const [config, status, settings, history, ledger, methods] = await Promise.allSettled([
    appConfig(), endpoints.status(id), endpoints.config(id),
    endpoints.history(id, state.historyPage, HISTORY_LIMIT), endpoints.ledger(id, 100),
    endpoints.methods(id),
  ]);
  const failed = [status, settings, history].find((r) => r.status === "rejected");
  if (failed && failed.reason instanceof ApiError && failed.reason.status === 401) return;
  state.loadError = failed ? failed.reason : null;
  if (config.status === "fulfilled") state.config = config.value;
  if (status.status === "fulfilled") state.status = status.value;
  if (settings.status === "fulfilled") state.settings = settings.value;
  if (history.status === "fulfilled") state.history = history.value;
  if (ledger.status === "fulfilled") state.ledger = ledger.value;
  state.methods = methods.status === "fulfilled" ? methods.value.methods : null;
  state.methodsError = methods.status === "rejected" ? methods.reason : null;
  state.action = null;
  const pending = state.status && state.status.pendingRechargeId;
  if (pending) {
    try { state.action = await endpoints.rechargeInfo(id, pending); } catch { state.action = null; }
  }
  render();
  // A recharge is being charged (not waiting for the customer): look again shortly.
  if (pending && !(state.action && state.action.requiresAction)) pollTimer = setTimeout(load, POLL_MS);
}

function render() {
  if (!state.status || !state.settings) {
    replace($("#banners"), state.loadError
      ? h("div", { class: "banner banner-error", role: "alert", text: errorText(state.loadError) }) : null);
    return;
  }
  renderBanners();
  renderBalance();
  renderChart();
  renderSettings();
  renderCardsSection();
  renderHistory();
}

function currency() { return state.status.currency; }

function renderBalance() {
  const st = state.status;
  const c = currency();
  const current = $("[data-testid=balance-current]");
  current.textContent = money(st.currentBalance, c);
  current.dataset.below = st.needsRecharge ? "true" : "false";
  $("[data-testid=balance-minimum]").textContent = money(st.minimumBalance, c);
  $("[data-testid=balance-target]").textContent = money(st.targetBalance, c);
  const waitingForCustomer = Boolean(state.action && state.action.requiresAction);
  renderStatusPill($("[data-testid=balance-status]"), st, {
    waitingForCustomer, paused: Boolean(state.settings.pausedReason),
  });
  $("[data-testid=balance-auto]").textContent = st.autoRechargeEnabled ? t("common.on") : t("common.off");
  const next = $("[data-testid=next-recharge]");
  const open = st.pendingRechargeId && state.action ? state.action.recharge : null;
  if (open) {
    // The open recharge's amounts were fixed when it was opened; show those, not a new estimate.
    next.textContent = t("balance.open_recharge", {
      amount: money(open.amount, c), fee: money(open.fee, c), total: money(open.totalCharge, c),
    });
  } else {
    next.textContent = nextRecharge(st, state.config);
  }
  renderRechargeButton($("#recharge-now"), $("#recharge-why"), st, state.config, { waitingForCustomer });
}

function banner(tone, testid, title, body, ...actions) {
  // tabindex -1: the page moves the focus to an outcome banner after an action.
  return h("div", { class: `banner banner-${tone}`, "data-testid": testid, tabindex: "-1",
    role: tone === "error" ? "alert" : "status" },
    h("p", { class: "banner-title", text: title }),
    body ? h("p", { text: body }) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

function renderBanners() {
  const st = state.status;
  const c = currency();
  const out = [];
  if (state.actionNotice) out.push(state.actionNotice);
  if (state.action && state.action.requiresAction) {
    const r = state.action.recharge;
    const authenticate = h("button", { type: "button", class: "button", "data-testid": "authenticate",
      text: t("action.authenticate"), onclick: (e) => onAuthenticate(e.currentTarget) });
    const cancel = h("button", { type: "button", class: "button secondary", "data-testid": "cancel-recharge",
      text: t("action.cancel"), onclick: (e) => onCancel(e.currentTarget) });
    out.push(banner("warn", "banner-action", t("action.title", { total: money(r.totalCharge, c) }),
      t("action.body", { amount: money(r.amount, c), fee: money(r.fee, c), total: money(r.totalCharge, c) }),
      authenticate, cancel));
  } else if (st.pendingRechargeId) {
    out.push(banner("info", "banner-processing", t("processing.title"), t("processing.body")));
  }
  if (state.settings.pausedReason) {
    const resume = h("button", { type: "button", class: "button", "data-testid": "resume",
      text: t("paused.resume"), onclick: (e) => onResume(e.currentTarget) });
    out.push(banner("warn", "banner-paused", t("paused.title"),
      t("paused.body", { reason: state.settings.pausedReason }), resume));
  }
  if (st.rechargeBlockedReason === "no_payment_method" && !st.pendingRechargeId) {
    out.push(banner("info", "banner-no-card", t("nocard.title"), t("nocard.body"),
      h("a", { class: "button", href: paymentPage(), text: t("cards.add") })));
  }
  replace($("#banners"), out);
}

function renderChart() {
  const slot = $("#chart");
  const entries = (state.ledger && state.ledger.entries) || [];
  replace(slot, balanceChart({ entries, minimum: state.status.minimumBalance, target: state.status.targetBalance,
    currency: currency(), width: slot.clientWidth }));
}

function renderSettings() {
  const min = $("#minimum");
  const tgt = $("#target");
  if (!state.formDirty) {
    min.value = String(state.settings.minimumBalance);
    tgt.value = String(state.settings.targetBalance);
    $("#auto").checked = state.settings.autoRechargeEnabled;
  }
  $("#minimum-hint").textContent = t("settings.minimum_hint", { currency: currency().toUpperCase() });
  $("#target-hint").textContent = t("settings.target_hint", { currency: currency().toUpperCase() });
}

// The card was declined (backing off or paused, or the newest recharge failed): another card
// is the way out, and choosing one tries again at once.
function afterDecline() {
  const reason = state.status.rechargeBlockedReason;
  if (state.settings.pausedReason || reason === "backing_off_after_failure" || reason === "auto_recharge_paused") {
    return true;
  }
  const newest = state.historyPage === 1 && state.history && state.history.records[0];
  return Boolean(newest && newest.status === "failed" && !newest.failureCode?.startsWith("amount_too_"));
}

function renderCardsSection() {
  const slot = $("#card-list-slot");
  const methods = state.methods || [];
  let hint = null;
  if (afterDecline()) {
    const another = methods.some((m) => !m.isDefault);
    hint = h("p", { class: "notice notice-warn", "data-testid": "cards-decline-hint",
      text: t(another ? "cards.after_decline_choose" : "cards.after_decline_add") });
  }
  if (state.methodsError) {
    replace(slot, h("p", { class: "empty", "data-testid": "cards-error", text: errorText(state.methodsError) }));
  } else {
    replace(slot, hint, renderCards(methods, { onDefault: onMakeDefault, onRemove: onRemove }));
  }
  $("#add-card").setAttribute("href", paymentPage());
}

function paymentPage() {
  return `stripe-payment.html?userId=${encodeURIComponent(state.userId)}`;
}

const STATUS_TONE = { succeeded: "ok", failed: "error", requires_action: "warn", canceled: "muted",
  pending: "info", processing: "info" };

// Under a row's status: why it failed or was canceled; for one waiting for 3-D Secure, that it
// waits for the customer (Stripe's "declined … requires authentication" is not a failure).
function historyNote(r) {
  if (r.status === "requires_action") {
    return h("span", { class: "row-note waiting", "data-testid": "row-note", text: t("history.waiting") });
  }
  if ((r.status === "failed" || r.status === "canceled") && (r.failureCode || r.failureMessage)) {
    return h("span", { class: `row-note ${r.status}`, "data-testid": "row-note", text: failureText(r) });
  }
  return null;
}

function renderHistory() {
  const slot = $("#history-slot");
  const { records, pagination } = state.history;
  if (!records.length) {
    replace(slot, h("p", { class: "empty", "data-testid": "history-empty", text: t("history.empty") }));
  } else {
    const head = ["history.date", "history.amount", "history.fee", "history.total", "history.status", "history.trigger"]
      .map((k) => h("th", { scope: "col", text: t(k) }));
    const rows = records.map((r) => {
      const cells = [
        [t("history.date"), dateTime(r.createdAt)],
        [t("history.amount"), money(r.amount, r.currency)],
        [t("history.fee"), money(r.fee, r.currency)],
        [t("history.total"), money(r.totalCharge, r.currency)],
      ].map(([label, value]) => h("td", { "data-label": label, text: value }));
      const badge = h("span", { class: `badge badge-${STATUS_TONE[r.status] || "muted"}`, "data-testid": "status-badge",
        "data-status": r.status, text: t(`rstatus.${r.status}`) });
      const note = historyNote(r);
      const trigger = t(`trigger.${r.triggeredBy}`) + (r.capped ? ` · ${t("history.capped")}` : "");
      return h("tr", { "data-testid": "history-row", "data-status": r.status },
        cells, h("td", { "data-label": t("history.status") }, badge, note),
        h("td", { "data-label": t("history.trigger"), text: trigger }));
    });
    replace(slot, h("div", { class: "table-wrap" },
      h("table", { class: "history" }, h("caption", { class: "visually-hidden", text: t("history.heading") }),
        h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))));
  }
  const pages = Math.max(1, pagination.totalPages);
  $("#history-page").textContent = t("history.page", { page: pagination.page, pages });
  $("#history-prev").disabled = pagination.page <= 1;
  $("#history-next").disabled = pagination.page >= pages;
}

// ---- actions -----------------------------------------------------------------------------

async function withBusy(button, work) {
  if (button) button.disabled = true;
  try { return await work(); } finally { if (button && button.isConnected) button.disabled = false; }
}

async function onRechargeNow(event) {
  const out = $("#recharge-result");
  setResult(out, "info", t("recharge.running"));
  await withBusy(event.currentTarget, async () => {
    try {
      const result = await endpoints.recharge(state.userId);
      const outcome = rechargeOutcome(result, currency(), result.newBalance);
      setResult(out, outcome.tone, outcome.text);
    } catch (err) {
      setResult(out, "error", errorText(err));
    }
    await load();
  });
}

async function onAuthenticate(button) {
  const pending = state.status.pendingRechargeId;
  await withBusy(button, async () => {
    try {
      const { record, stripeError } = await authenticateRecharge({ config: state.config, userId: state.userId, rechargeId: pending });
      const outcome = rechargeOutcome(record, currency());
      const text = record.status === "failed" && stripeError && stripeError.message
        ? t("recharge.failed", { reason: stripeError.message }) : outcome.text;
      state.actionNotice = banner(outcome.tone === "ok" ? "ok" : outcome.tone === "error" ? "error" : "info",
        "banner-result", text, null);
      state.actionNotice.dataset.status = record.status;
    } catch (err) {
      state.actionNotice = err instanceof StripeUnavailable
        ? stripeBlockedPanel(err, () => onAuthenticate(null))
        : banner("error", "banner-result", errorText(err), null);
    }
    await load();
    $("#banners").querySelector("[data-testid=banner-result]")?.focus();
  });
}

async function onCancel(button) {
  await withBusy(button, async () => {
    try {
      const info = await endpoints.rechargeCancel(state.userId, state.status.pendingRechargeId);
      const outcome = rechargeOutcome(info.recharge, currency());
      state.actionNotice = banner(outcome.tone, "banner-result", outcome.text, null);
    } catch (err) {
      state.actionNotice = banner("error", "banner-result", errorText(err), null);
    }
    await load();
  });
}

async function onResume(button) {
  await withBusy(button, async () => {
    try {
      await endpoints.saveConfig(state.userId, { autoRechargeEnabled: true });
      announce(t("paused.resumed"));
    } catch (err) {
      state.actionNotice = banner("error", "banner-result", errorText(err), null);
    }
    await load();
  });
}

// A field's error: a key of the page's own checks or the service's error, kept so that a
// language switch words it again.
function showFieldError(name, key, error) {
  state.fieldErrors[name] = key || error ? { key, error } : null;
  const input = $(`#${name}`);
  const out = $(`#${name}-error`);
  const message = key ? t(key) : error ? errorText(error) : "";
  out.textContent = message;
  if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
}

function rewordFieldErrors() {
  for (const [name, shown] of Object.entries(state.fieldErrors)) {
    if (shown) showFieldError(name, shown.key, shown.error);
  }
}

function checkSettings(fields) {
  const result = validateSettings({
    minimum: $("#minimum").value, target: $("#target").value, autoRecharge: $("#auto").checked,
  }, fractionDigits(currency()));
  if (fields.has("minimum")) showFieldError("minimum", result.errors.minimumBalance);
  if (fields.has("target")) showFieldError("target", result.errors.targetBalance);
  return result;
}

// Inline checks: a field is checked once the customer leaves it, and again on every keystroke
// while it shows an error, so the message goes away as soon as the value is right.
const touched = new Set();

function onFieldChange(event) {
  const name = event.target.id;
  if (name !== "minimum" && name !== "target") return;
  if (event.type === "change") touched.add(name);
  if (event.type === "input" && !event.target.hasAttribute("aria-invalid")) return;
  checkSettings(touched);
}

async function onSaveSettings(event) {
  event.preventDefault();
  const out = $("#settings-result");
  touched.add("minimum").add("target");
  const { errors, body } = checkSettings(touched);
  if (errors.minimumBalance || errors.targetBalance) {
    setResult(out, "error", t("settings.fix_errors"));
    $(errors.minimumBalance ? "#minimum" : "#target").focus();
    return;
  }
  const button = event.submitter || $("[data-testid=save-settings]");
  await withBusy(button, async () => {
    try {
      const saved = await endpoints.saveConfig(state.userId, body);
      state.formDirty = false;
      const warning = saved.warnings && saved.warnings.length ? ` ${saved.warnings.join(" ")}` : "";
      setResult(out, "ok", t("settings.saved") + warning);
    } catch (err) {
      const field = err.field === "minimumBalance" ? "minimum" : err.field === "targetBalance" ? "target" : null;
      if (field) { showFieldError(field, null, err); $(`#${field}`).focus(); }
      setResult(out, "error", field ? t("settings.fix_errors") : errorText(err));
      return;
    }
    await load();
  });
}

async function onMakeDefault(method) {
  const out = $("#cards-result");
  try {
    await endpoints.makeDefault(state.userId, method.id);
    setResult(out, "ok", t("cards.default_set", { card: cardLabel(method) }));
  } catch (err) {
    setResult(out, "error", errorText(err));
  }
  await load();
}

async function onRemove(method) {
  const out = $("#cards-result");
  try {
    await endpoints.removeCard(state.userId, method.id);
    setResult(out, "ok", t("cards.removed", { card: cardLabel(method) }));
  } catch (err) {
    setResult(out, "error", errorText(err));
  }
  await load();
  $("#cards-heading").focus();
}

async function onPortal(event) {
  const out = $("#cards-result");
  await withBusy(event.currentTarget, async () => {
    try {
      const back = `${location.origin}${location.pathname}`;
      const { portalUrl } = await endpoints.portal(state.userId, back).catch((err) => {
        // Opened on another host name than PUBLIC_BASE_URL: come back to the service's own.
        if (err.code === "invalid_return_url") return endpoints.portal(state.userId, null);
        throw err;
      });
      location.assign(portalUrl);
    } catch (err) {
      setResult(out, "error", errorText(err));
    }
  });
}

function wire() {
  $("#recharge-now").addEventListener("click", onRechargeNow);
  $("#settings-form").addEventListener("submit", onSaveSettings);
  $("#settings-form").addEventListener("input", (event) => { state.formDirty = true; onFieldChange(event); });
  $("#settings-form").addEventListener("change", onFieldChange);
  $("#open-portal").addEventListener("click", onPortal);
  $("#history-prev").addEventListener("click", () => { state.historyPage -= 1; load(); });
  $("#history-next").addEventListener("click", () => { state.historyPage += 1; load(); });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.status) renderChart(); }, 150);
  });
}

function main() {
  boot({ onLanguage: () => { render(); rewordFieldErrors(); } });
  if (!requireLink(null)) return;
  state.userId = linkUser();
  $("#app").hidden = false;
  wire();
  load();
}

main();
