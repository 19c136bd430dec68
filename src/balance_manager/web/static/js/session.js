// The customer's credential. It arrives in the URL fragment (#token=…), which browsers never
// send to a server, is moved to sessionStorage at once and removed from the address bar, so it
// shows up in no history entry, bookmark, Referer or server log. It only ever travels in an
// Authorization header.
const STORE_KEY = "bm.token";

function store() {
  try { return window.sessionStorage; } catch { return null; }
}

function captureFromFragment() {
  if (!location.hash) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return;
  store()?.setItem(STORE_KEY, token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

captureFromFragment();

export function token() {
  return store()?.getItem(STORE_KEY) || null;
}

export function forget() {
  store()?.removeItem(STORE_KEY);
}

// The token's claims, read without verifying (the service verifies every call): the page only
// needs to know whose link it is and whether it has obviously expired.
export function claims() {
  const value = token();
  if (!value) return null;
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      [...atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="))]
        .map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// "missing" | "invalid" | "expired" | "other-user" | null (fine), for the user the page is about.
export function problem(expectedUserId) {
  if (!token()) return "missing";
  const c = claims();
  if (!c || typeof c.sub !== "string") return "invalid";
  if (typeof c.exp === "number" && c.exp * 1000 <= Date.now()) return "expired";
  if (expectedUserId && expectedUserId !== c.sub) return "other-user";
  return null;
}

export function userId() {
  return claims()?.sub ?? null;
}
