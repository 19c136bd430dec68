// Human text for the service's answers. An error is worded from its code and params in the
// page's language (every code the pages can meet has a text: tests/web/test_error_texts.py);
// the service's own English message only for a code this page does not know.
import { has, t } from "./i18n.js";
import { money } from "./format.js";

// Params that are amounts (exact decimal strings in major units of params.currency).
const AMOUNTS = new Set(["amount", "total", "minimum", "maximum", "gap"]);
// Which words a status param is, by error code.
const STATUS_WORDS = { recharge_not_waiting: "rstatus", setup_intent_not_succeeded: "sistatus" };

function word(prefix, value) {
  return has(`${prefix}.${value}`) ? t(`${prefix}.${value}`) : value;
}

function errorParams(error) {
  const params = { ...(error.params || {}) };
  for (const [name, value] of Object.entries(params)) {
    if (AMOUNTS.has(name) && params.currency) params[name] = money(value, params.currency);
  }
  if (params.status && STATUS_WORDS[error.code]) params.status = word(STATUS_WORDS[error.code], params.status);
  params.field = error.field ? word("field", error.field) : "";
  return params;
}

// Why a recharge failed or was canceled: its failure code in the page's language, else the
// message Stripe (or the service) gave.
export function failureText(record) {
  const code = record.failureCode;
  if (code && has(`failure.${code}`)) return t(`failure.${code}`);
  return record.failureMessage || code || t("error.unknown");
}

export function errorText(error) {
  if (error && error.code && has(`api.${error.code}`)) return t(`api.${error.code}`, errorParams(error));
  return (error && error.message) || t("error.unknown");
}

// One sentence that tells the truth about a recharge (a history record, the recharge call's
// answer or …/refresh's), amounts in the user's currency.
export function rechargeOutcome(record, currency, balance) {
  const c = record.currency || currency;
  const params = {
    amount: money(record.amount, c), fee: money(record.fee, c), total: money(record.totalCharge, c),
    balance: balance === undefined ? "" : money(balance, c),
    reason: failureText(record),
  };
  switch (record.status) {
    case "succeeded": return { tone: "ok", text: t(balance === undefined ? "recharge.succeeded" : "recharge.succeeded_balance", params) };
    case "requires_action": return { tone: "warn", text: t("recharge.requires_action", params) };
    case "failed": return { tone: "error", text: t("recharge.failed", params) };
    case "canceled": return { tone: "muted", text: t("recharge.canceled", params) };
    default: return { tone: "info", text: t("recharge.processing", params) };
  }
}
