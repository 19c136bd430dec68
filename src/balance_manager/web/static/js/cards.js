// The saved-cards list, shared by the dashboard (with actions) and the payment page.
import { h } from "./dom.js";
import { t } from "./i18n.js";

function brandName(brand) {
  if (!brand) return t("cards.card");
  return brand.charAt(0).toUpperCase() + brand.slice(1);
}

export function cardLabel(method) {
  return t("cards.label", { brand: brandName(method.brand), last4: method.last4 || "????" });
}

export function renderCards(methods, { onDefault, onRemove } = {}) {
  if (!methods.length) {
    return h("p", { class: "empty", "data-testid": "no-cards", text: t("cards.none") });
  }
  return h("ul", { class: "card-list", "data-testid": "card-list" }, methods.map((m) => {
    const label = cardLabel(m);
    const expiry = m.expMonth && m.expYear
      ? t("cards.expires", { month: String(m.expMonth).padStart(2, "0"), year: m.expYear }) : "";
    const actions = [];
    if (onDefault && !m.isDefault) {
      actions.push(h("button", { type: "button", class: "button small secondary",
        "data-testid": "make-default", "aria-label": t("cards.make_default_aria", { card: label }),
        text: t("cards.make_default"), onclick: () => onDefault(m) }));
    }
    if (onRemove) {
      actions.push(h("button", { type: "button", class: "button small danger",
        "data-testid": "remove-card", "aria-label": t("cards.remove_aria", { card: label }),
        text: t("cards.remove"), onclick: () => onRemove(m) }));
    }
    return h("li", { class: "saved-card", "data-testid": "card", "data-last4": m.last4 || "",
      "data-default": m.isDefault ? "true" : "false" },
    h("span", { class: "card-name" },
      h("strong", { text: label }),
      expiry ? h("span", { class: "muted", text: expiry }) : null),
    m.isDefault ? h("span", { class: "badge badge-ok", "data-testid": "default-badge", text: t("cards.default") }) : null,
    actions.length ? h("span", { class: "card-actions" }, actions) : null);
  }));
}
