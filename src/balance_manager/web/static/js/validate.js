// The settings form's rules, mirroring the API's (PUT /api/balance/config): amounts are
// decimals in major units with no more decimals than the currency has and below 10^12;
// minimum ≥ 0; target > minimum. Compared exactly as integers of minor units (BigInt), never
// as binary floats. The API checks again; its answer is shown the same way.

const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

// → { value: "150.5", minor: 15050n } or { error: "i18n key" }
export function parseAmount(text, digits) {
  const raw = String(text || "").trim();
  if (!raw) return { error: "validation.required" };
  const match = DECIMAL.exec(raw);
  if (!match) return { error: "validation.number" };
  const [, sign, whole, fraction = ""] = match;
  if (fraction.length > digits) return { error: digits ? "validation.decimals" : "validation.whole" };
  if (whole.replace(/^0+/, "").length > 12) return { error: "validation.too_large" };
  const minor = BigInt(whole + fraction.padEnd(digits, "0")) * (sign === "-" ? -1n : 1n);
  const value = (sign === "-" ? "-" : "") + whole + (fraction ? `.${fraction}` : "");
  return { value, minor };
}

// → { errors: {minimumBalance?: key, targetBalance?: key}, body }
export function validateSettings({ minimum, target, autoRecharge }, digits) {
  const errors = {};
  const min = parseAmount(minimum, digits);
  const tgt = parseAmount(target, digits);
  if (min.error) errors.minimumBalance = min.error;
  else if (min.minor < 0n) errors.minimumBalance = "validation.minimum_negative";
  if (tgt.error) errors.targetBalance = tgt.error;
  else if (!min.error && tgt.minor <= min.minor) errors.targetBalance = "validation.target_above_minimum";
  // Decimal strings are accepted by the API as exact amounts (no float on the way).
  const body = { minimumBalance: min.value, targetBalance: tgt.value, autoRechargeEnabled: autoRecharge };
  return { errors, body };
}
