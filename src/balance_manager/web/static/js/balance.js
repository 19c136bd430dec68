// The balance card, as the dashboard and the success page both show it: the status pill, the
// next recharge (with the card fee's rate, from /app-config.json) and "Recharge now", which
// never stands disabled without saying why.
import { h, replace } from "./dom.js";
import { has, t } from "./i18n.js";
import { dateTime, money, percent } from "./format.js";

// The card fee as a phrase: "the 2.9% card fee" (a gross-up adds Stripe's fixed part).
export function feeText(config) {
  const fee = config && config.cardFee;
  if (!fee) return t("fee.generic");
  if (fee.mode === "gross_up" && Number(fee.fixed) > 0) {
    return t("fee.gross_up", { rate: percent(fee.rate), fixed: money(fee.fixed, fee.currency) });
  }
  return t("fee.percentage", { rate: percent(fee.rate) });
}

// [tone, text] of the status pill. waitingForCustomer: the open recharge needs 3-D Secure.
export function statusOf(st, { waitingForCustomer = false, paused = false } = {}) {
  if (st.pendingRechargeId) {
    return waitingForCustomer ? ["warn", t("status.waiting_authentication")] : ["info", t("status.recharging")];
  }
  if (paused) return ["warn", t("status.paused")];
  if (!st.autoRechargeEnabled) return ["muted", t("status.auto_off")];
  if (st.needsRecharge) {
    return st.rechargeBlockedReason ? ["warn", t(`reason.${st.rechargeBlockedReason}`)] : ["info", t("status.due")];
  }
  if (st.rechargeBlockedReason === "no_payment_method") return ["warn", t("status.ok_no_card")];
  return ["ok", t("status.ok")];
}

export function renderStatusPill(slot, st, options) {
  const [tone, text] = statusOf(st, options);
  replace(slot, h("span", { class: `badge badge-${tone}`, "data-testid": "status-pill", text }));
}

export function nextRecharge(st, config) {
  const c = st.currency;
  const calc = st.calculation;
  if (calc) {
    return t("balance.next_due", {
      amount: money(calc.rechargeAmount, c), fee: money(calc.fee, c), total: money(calc.totalCharge, c),
      balance: money(calc.newBalance, c),
    }) + (calc.capped ? ` ${t("balance.capped")}` : "");
  }
  return t("balance.next_rule", {
    minimum: money(st.minimumBalance, c), target: money(st.targetBalance, c), fee: feeText(config),
  });
}

// Why "Recharge now" cannot be used now, or null when it can. waitingForCustomer: the open
// recharge waits for 3-D Secure (the banner above offers it).
export function rechargeBlocker(st, config, { waitingForCustomer = false } = {}) {
  if (config && config.paymentsConfigured === false) return t("why.payments_not_configured");
  if (st.pendingRechargeId && waitingForCustomer) return t("why.waiting_authentication");
  const reason = st.rechargeBlockedReason;
  if (reason === "backing_off_after_failure" && st.rechargeBlockedUntil) {
    return t("why.backing_off_until", { time: dateTime(st.rechargeBlockedUntil) });
  }
  if (reason) return has(`why.${reason}`) ? t(`why.${reason}`) : t(`reason.${reason}`);
  if (!(st.currentBalance < st.targetBalance)) return t("why.at_target");
  return null;
}

// The button and, beside it (its aria-describedby), the reason it is disabled.
export function renderRechargeButton(button, hint, st, config, options) {
  const why = rechargeBlocker(st, config, options);
  button.disabled = Boolean(why);
  hint.textContent = why || "";
}
