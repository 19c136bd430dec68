// Service worker: the pages and their assets are cached so the app shell opens offline and fast.
// API answers, the page configuration and the docs are never cached: they always go to the
// network (a balance shown from a cache would be a lie). __CACHE_VERSION__ is a digest of the
// static files, filled in by the service, so each release gets a fresh cache.
const CACHE = "bm-static-__CACHE_VERSION__";
const SCOPE = new URL(self.registration.scope).pathname;
const PAGES = ["", "stripe-payment.html", "stripe-elements-test.html", "payment-success.html",
  "manifest.webmanifest"];
const ASSETS = [
  "assets/css/app.css",
  "assets/js/api.js", "assets/js/cards.js", "assets/js/chart.js", "assets/js/config.js",
  "assets/js/dashboard.js", "assets/js/debug.js", "assets/js/dom.js", "assets/js/format.js",
  "assets/js/i18n.js", "assets/js/i18n/en.js", "assets/js/i18n/zh-CN.js", "assets/js/messages.js",
  "assets/js/payment.js", "assets/js/sca.js", "assets/js/session.js", "assets/js/shell.js",
  "assets/js/stripe-loader.js", "assets/js/success.js", "assets/js/validate.js",
  "assets/icons/icon.svg", "assets/icons/icon-192.png",
];
const STATIC = new Set([...PAGES, ...ASSETS].map((path) => SCOPE + path));

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll([...STATIC]))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("bm-static-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function isStatic(url) {
  if (url.origin !== self.location.origin) return false;
  return STATIC.has(url.pathname) || url.pathname.startsWith(`${SCOPE}assets/`) && !url.pathname.startsWith(`${SCOPE}assets/vendor/`);
}

// Network first (so a new release shows at once), the cache when offline. Cached by path only:
// query strings (userId, Stripe's redirect parameters) are never stored.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!isStatic(url)) return;
  event.respondWith(
    fetch(request).then((response) => {
      if (response.ok && response.type === "basic") {
        const copy = response.clone();
        event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.pathname, copy)));
      }
      return response;
    }).catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});
