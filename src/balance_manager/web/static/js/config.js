// The page configuration (publishable key, Stripe.js URL) from /app-config.json: the CSP
// allows no inline script, so it cannot be written into the page.
let pending = null;

export function appConfig() {
  if (!pending) {
    pending = fetch("app-config.json", { cache: "no-store", credentials: "omit" }).then((r) => {
      if (!r.ok) throw new Error(`app-config.json answered ${r.status}`);
      return r.json();
    });
    pending.catch(() => { pending = null; });
  }
  return pending;
}
