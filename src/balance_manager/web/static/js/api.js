// Calls to the service's JSON API with the customer token. A 401 means the link expired or
// was revoked: the page then shows "ask for a new link" (event bm:auth), never a raw error.
import { token } from "./session.js";
import { t } from "./i18n.js";

// code and params are what the page words in its own language (messages.js: errorText);
// message is the service's English, for the console and unknown codes.
export class ApiError extends Error {
  constructor(status, code, message, field, params) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.params = params || {};
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const credential = token();
  if (!credential) {
    window.dispatchEvent(new CustomEvent("bm:auth", { detail: "missing" }));
    throw new ApiError(401, "unauthenticated", t("gate.missing.title"));
  }
  const headers = { Accept: "application/json", Authorization: `Bearer ${credential}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, "network", t("error.network"));
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("bm:auth", { detail: "expired" }));
    throw new ApiError(401, "unauthenticated", t("gate.expired.title"));
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "http_error",
      error.message || response.statusText, error.field, error.params);
  }
  return data;
}

const u = (userId) => encodeURIComponent(userId);

export const endpoints = {
  status: (id) => api(`api/balance/status/${u(id)}`),
  config: (id) => api(`api/balance/config/${u(id)}`),
  saveConfig: (id, body) => api(`api/balance/config/${u(id)}`, { method: "PUT", body }),
  history: (id, page, limit) => api(`api/balance/history/${u(id)}?page=${page}&limit=${limit}`),
  ledger: (id, limit) => api(`api/balance/ledger/${u(id)}?page=1&limit=${limit}`),
  recharge: (id) => api(`api/balance/recharge/${u(id)}`, { method: "POST", body: {} }),
  rechargeInfo: (id, r) => api(`api/balance/recharge/${u(id)}/${encodeURIComponent(r)}`),
  rechargeRefresh: (id, r) =>
    api(`api/balance/recharge/${u(id)}/${encodeURIComponent(r)}/refresh`, { method: "POST" }),
  rechargeCancel: (id, r) =>
    api(`api/balance/recharge/${u(id)}/${encodeURIComponent(r)}/cancel`, { method: "POST" }),
  methods: (id) => api(`api/payment/methods/${u(id)}`),
  setupIntent: (id) => api(`api/payment/setup-intent/${u(id)}`, { method: "POST" }),
  completeSetup: (id, setupIntentId) =>
    api(`api/payment/setup-intent/${u(id)}/complete`, { method: "POST", body: { setupIntentId } }),
  portal: (id, returnUrl) =>
    api(`api/payment/portal/${u(id)}`, { method: "POST", body: returnUrl ? { returnUrl } : {} }),
  makeDefault: (id, pm) =>
    api(`api/payment/methods/${u(id)}/${encodeURIComponent(pm)}/default`, { method: "POST" }),
  removeCard: (id, pm) =>
    api(`api/payment/methods/${u(id)}/${encodeURIComponent(pm)}`, { method: "DELETE" }),
};
