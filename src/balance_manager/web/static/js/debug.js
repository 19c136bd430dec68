// /stripe-elements-test.html (the original's debugging page): runs the Payment Element steps
// one by one with live status, timings and error diagnostics, and keeps a copyable log. The log
// is in English on purpose (it is meant for support). The customer token is never logged.
import { $, announce, h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { appConfig } from "./config.js";
import { endpoints } from "./api.js";
import { boot } from "./shell.js";
import { problem, userId as linkUser } from "./session.js";
import { APPEARANCE, loadStripeJs, StripeUnavailable } from "./stripe-loader.js";
import { errorText } from "./messages.js";

const STEPS = ["config", "stripejs", "setupintent", "elements", "mounted", "confirmed"];
const steps = {};
const lines = [];
const started = performance.now();
let run = 0;
let ctx = {};

function log(level, message) {
  const ms = Math.round(performance.now() - started);
  lines.push(`[+${String(ms).padStart(6)} ms] ${level.padEnd(5)} ${message}`);
  $("#log").textContent = lines.join("\n");
}

function renderSteps() {
  replace($("#steps"), STEPS.map((id) => {
    const s = steps[id] || { state: "pending" };
    return h("li", { class: `step step-${s.state}`, "data-step": id, "data-state": s.state, "data-testid": `step-${id}` },
      h("span", { class: "step-name", text: t(`debug.step.${id}`) }),
      h("span", { class: `badge badge-${{ ok: "ok", failed: "error", running: "info", skipped: "muted" }[s.state] || "muted"}`,
        text: t(`debug.state.${s.state}`) }),
      s.ms !== undefined ? h("span", { class: "muted", text: `${s.ms} ms` }) : null,
      s.detail ? h("span", { class: "step-detail", "data-testid": `step-${id}-detail`, text: s.detail }) : null);
  }));
}

function set(id, state, detail, ms) {
  steps[id] = { state, detail, ms };
  renderSteps();
}

async function step(id, work) {
  const begin = performance.now();
  set(id, "running");
  log("INFO", `step ${id}: started`);
  try {
    const value = await work();
    const ms = Math.round(performance.now() - begin);
    set(id, "ok", null, ms);
    log("OK", `step ${id}: done in ${ms} ms`);
    return value;
  } catch (err) {
    const ms = Math.round(performance.now() - begin);
    const detail = diagnose(id, err);
    set(id, "failed", detail, ms);
    log("ERROR", `step ${id}: failed after ${ms} ms: ${detail}`);
    if (err && err.stack) log("DEBUG", String(err.stack).split("\n").slice(0, 3).join(" | "));
    throw err;
  }
}

function diagnose(id, err) {
  if (err instanceof StripeUnavailable) {
    return err.reason === "not-configured" ? t("stripejs.not_configured")
      : `${t("debug.diag.stripejs", { url: err.url })} (${err.reason})`;
  }
  if (err && err.code === "no_link") return t("debug.diag.no_link");
  if (err && err.status !== undefined) return `${errorText(err)} (HTTP ${err.status}, ${err.code})`;
  if (err && err.type) return `${err.message} (${err.type}${err.code ? `, ${err.code}` : ""})`;
  return String((err && err.message) || err);
}

function environment() {
  log("INFO", `page ${location.origin}${location.pathname}`);
  log("INFO", `browser ${navigator.userAgent}`);
  log("INFO", `language ${navigator.language}; online ${navigator.onLine}; cookies ${navigator.cookieEnabled}`);
}

async function runAll() {
  const mine = ++run;
  ctx = {};
  for (const id of STEPS) steps[id] = { state: "pending" };
  renderSteps();
  $("#confirm").disabled = true;
  replace($("#payment-element"));
  try {
    const config = await step("config", async () => {
      const c = await appConfig();
      log("INFO", `Stripe.js URL ${c.stripeJsUrl}; publishable key ${c.publishableKey ? c.publishableKey.slice(0, 8) + "…" : "(none)"}`);
      return c;
    });
    await step("stripejs", async () => {
      const Stripe = await loadStripeJs(config.stripeJsUrl);
      if (!config.publishableKey) throw new StripeUnavailable("not-configured", config.stripeJsUrl);
      ctx.stripe = Stripe(config.publishableKey);
    });
    const userId = await step("setupintent", async () => {
      const issue = problem(null);
      if (issue) throw Object.assign(new Error("no customer link"), { code: "no_link", issue });
      const id = linkUser();
      const si = await endpoints.setupIntent(id);
      ctx.setupIntentId = si.setupIntentId;
      log("INFO", `SetupIntent ${si.setupIntentId}`);
      ctx.clientSecret = si.clientSecret;
      return id;
    });
    ctx.userId = userId;
    await step("elements", async () => {
      ctx.elements = ctx.stripe.elements({ clientSecret: ctx.clientSecret, appearance: APPEARANCE });
    });
    await step("mounted", () => new Promise((resolve, reject) => {
      const element = ctx.elements.create("payment");
      const timer = setTimeout(() => reject(new Error("no ready event within 20 s")), 20000);
      element.on("ready", () => { clearTimeout(timer); resolve(); });
      element.on("change", (e) => { if (e.error) log("WARN", `element: ${e.error.message}`); });
      element.mount("#payment-element");
    }));
    if (mine === run) {
      $("#confirm").disabled = false;
      log("INFO", "ready: enter a test card (4242 4242 4242 4242) and confirm");
    }
  } catch {
    for (const id of STEPS) if (steps[id].state === "pending") steps[id] = { state: "skipped" };
    renderSteps();
    announce(t("debug.failed"));
  }
}

async function confirm(event) {
  event.preventDefault();
  $("#confirm").disabled = true;
  $("#element-error").textContent = "";
  try {
    await step("confirmed", async () => {
      const result = await ctx.stripe.confirmSetup({ elements: ctx.elements, redirect: "if_required",
        confirmParams: { return_url: `${location.origin}${location.pathname}` } });
      if (result.error) throw result.error;
      log("INFO", `SetupIntent ${result.setupIntent.id}: ${result.setupIntent.status}`);
      if (result.setupIntent.status === "succeeded") {
        const done = await endpoints.completeSetup(ctx.userId, result.setupIntent.id);
        log("INFO", `card ${done.paymentMethodId} saved; default ${done.defaultPaymentMethodId}`);
      }
    });
  } catch (err) {
    $("#element-error").textContent = diagnose("confirmed", err);
    $("#confirm").disabled = false;
  }
}

async function copyLog() {
  const out = $("#copy-result");
  const text = lines.join("\n");
  try {
    await navigator.clipboard.writeText(text);
    out.textContent = t("debug.copied");
  } catch {
    // No clipboard permission: select the log so the customer can copy it by hand.
    const range = document.createRange();
    range.selectNodeContents($("#log"));
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    out.textContent = t("debug.copy_manual");
  }
}

function main() {
  boot({ onLanguage: renderSteps });
  environment();
  $("#run").addEventListener("click", () => { log("INFO", "run again"); runAll(); });
  $("#element-form").addEventListener("submit", confirm);
  $("#copy-log").addEventListener("click", copyLog);
  runAll();
}

main();
