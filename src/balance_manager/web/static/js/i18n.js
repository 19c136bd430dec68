// English and Simplified Chinese. The browser's language decides unless the customer picked
// one with the switch (kept in localStorage: a preference, not a secret).
import en from "./i18n/en.js";
import zhCN from "./i18n/zh-CN.js";

const DICTIONARIES = { en, "zh-CN": zhCN };
const STORE_KEY = "bm.lang";

function stored() {
  try { return localStorage.getItem(STORE_KEY); } catch { return null; }
}

function pick() {
  const saved = stored();
  if (saved && DICTIONARIES[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    if (/^zh\b/i.test(tag)) return "zh-CN";
    if (/^en\b/i.test(tag)) return "en";
  }
  return "en";
}

let current = pick();

export const lang = () => current;

export const has = (key) => key in DICTIONARIES[current] || key in en;

export function t(key, params = {}) {
  const text = DICTIONARIES[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

// Static text carries data-i18n="key"; attributes data-i18n-attr="aria-label:key;placeholder:key".
export function translate(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

export function setLang(next) {
  if (!DICTIONARIES[next] || next === current) return;
  current = next;
  try { localStorage.setItem(STORE_KEY, next); } catch { /* private mode: not remembered */ }
  translate();
  window.dispatchEvent(new CustomEvent("bm:lang", { detail: next }));
}

export function bindSwitch(select) {
  if (!select) return;
  select.value = current;
  select.addEventListener("change", () => setLang(select.value));
}
