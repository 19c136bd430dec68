// Loads Stripe.js from the configured URL and tells *why* it failed: ad blockers and privacy
// extensions block js.stripe.com, networks drop it, or it loads without defining Stripe().
// A failed attempt removes its <script> so "retry" really fetches the script again.

export class StripeUnavailable extends Error {
  constructor(reason, url, detail) {
    super(`Stripe.js could not be loaded (${reason}) from ${url}${detail ? `: ${detail}` : ""}`);
    this.reason = reason; // "blocked" | "timeout" | "missing" | "not-configured" | "key"
    this.url = url;
  }
}

const TIMEOUT_MS = 15000;
let loading = null;

function inject(url) {
  return new Promise((resolve, reject) => {
    if (typeof window.Stripe === "function") { resolve(window.Stripe); return; }
    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.dataset.stripeJs = "";
    const timer = setTimeout(() => fail("timeout"), TIMEOUT_MS);
    function fail(reason) {
      clearTimeout(timer);
      script.remove();
      reject(new StripeUnavailable(reason, url));
    }
    script.addEventListener("load", () => {
      clearTimeout(timer);
      if (typeof window.Stripe === "function") resolve(window.Stripe);
      else fail("missing");
    });
    // One event for a blocked request, a network failure or a CSP refusal: the page cannot
    // tell them apart, so the explanation covers them all.
    script.addEventListener("error", () => fail("blocked"));
    document.head.append(script);
  });
}

export function loadStripeJs(url) {
  if (!url) return Promise.reject(new StripeUnavailable("not-configured", "(none)"));
  if (!loading) {
    loading = inject(url);
    loading.catch(() => { loading = null; });
  }
  return loading;
}

// Stripe(publishableKey), loading Stripe.js first when needed.
export async function stripeFor(config, publishableKey) {
  const key = publishableKey || config.publishableKey;
  if (!key) throw new StripeUnavailable("not-configured", config.stripeJsUrl || "(none)");
  const Stripe = await loadStripeJs(config.stripeJsUrl);
  try {
    return Stripe(key);
  } catch (err) {
    throw new StripeUnavailable("key", config.stripeJsUrl, String(err && err.message));
  }
}

// A dark appearance for the Payment Element, matching the pages.
export const APPEARANCE = {
  theme: "night",
  variables: {
    colorPrimary: "#8b91ff",
    colorBackground: "#1b1f29",
    colorText: "#e8eaf0",
    colorDanger: "#ff8080",
    borderRadius: "8px",
    fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, 'PingFang SC', 'Microsoft YaHei', sans-serif",
  },
};
