// Completing a recharge that waits for the customer (3-D Secure / SCA): Stripe.js confirms the
// PaymentIntent on-session, then the service reads it back from Stripe and settles the record
// (…/refresh), so the credit does not wait for the webhook — and lands once either way.
import { endpoints } from "./api.js";
import { stripeFor } from "./stripe-loader.js";

const idOf = (value) => (value && typeof value === "object" ? value.id : value) || undefined;

export async function authenticateRecharge({ config, userId, rechargeId }) {
  const info = await endpoints.rechargeInfo(userId, rechargeId);
  if (!info.requiresAction || !info.clientSecret) return { record: info.recharge, stripeError: null };
  const stripe = await stripeFor(config, info.publishableKey);
  const secret = info.clientSecret;
  const found = await stripe.retrievePaymentIntent(secret);
  let result = found;
  const intent = found.paymentIntent;
  if (intent && intent.status === "requires_action") {
    result = await stripe.handleNextAction({ clientSecret: secret });
  } else if (intent && ["requires_payment_method", "requires_confirmation"].includes(intent.status)) {
    // An off-session attempt that needed authentication: confirm it again on-session with
    // the same card (Stripe's "bring the customer back on-session" flow).
    const pm = idOf(intent.last_payment_error && intent.last_payment_error.payment_method)
      || idOf(intent.payment_method);
    result = await stripe.confirmCardPayment(secret, pm ? { payment_method: pm } : undefined);
  }
  const settled = await endpoints.rechargeRefresh(userId, rechargeId);
  return { record: settled.recharge, stripeError: result && result.error ? result.error : null };
}
