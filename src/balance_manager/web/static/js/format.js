// Display only: amounts arrive as JSON numbers in major units (at most three decimals), or as
// exact decimal strings (an error's params), which Intl.NumberFormat shows exactly; nothing
// here does arithmetic on money.
import { lang } from "./i18n.js";

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  return new Intl.NumberFormat(lang(), { style: "currency", currency: String(currency).toUpperCase() })
    .format(amount);
}

// A rate as the API gives it (an exact decimal string, "0.029") as a percentage: "2.9%".
export function percent(rate) {
  return new Intl.NumberFormat(lang(), { style: "percent", maximumFractionDigits: 3 }).format(rate);
}

export function fractionDigits(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency: String(currency).toUpperCase() })
    .resolvedOptions().maximumFractionDigits;
}

export function dateTime(iso) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function shortDate(iso) {
  return new Intl.DateTimeFormat(lang(), { month: "short", day: "numeric" }).format(new Date(iso));
}
