// Human text for the service's answers: a known error code in the page's language, else the
// service's own (English) message.
import { has, t } from "./i18n.js";
import { money } from "./format.js";

export function errorText(error) {
  if (error && error.code && has(`api.${error.code}`)) return t(`api.${error.code}`);
  return (error && error.message) || t("error.unknown");
}

// One sentence that tells the truth about a recharge (a history record, the recharge call's
// answer or …/refresh's), amounts in the user's currency.
export function rechargeOutcome(record, currency, balance) {
  const c = record.currency || currency;
  const params = {
    amount: money(record.amount, c), fee: money(record.fee, c), total: money(record.totalCharge, c),
    balance: balance === undefined ? "" : money(balance, c),
    reason: record.failureMessage || record.failureCode || t("error.unknown"),
  };
  switch (record.status) {
    case "succeeded": return { tone: "ok", text: t(balance === undefined ? "recharge.succeeded" : "recharge.succeeded_balance", params) };
    case "requires_action": return { tone: "warn", text: t("recharge.requires_action", params) };
    case "failed": return { tone: "error", text: t("recharge.failed", params) };
    case "canceled": return { tone: "muted", text: t("recharge.canceled", params) };
    default: return { tone: "info", text: t("recharge.processing", params) };
  }
}
