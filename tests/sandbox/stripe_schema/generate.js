// Writes stripe-objects.schema.json: JSON Schemas (draft 2020-12) of the Stripe objects the
// sandbox returns, read from the TypeScript types of the official `stripe` npm package (generated
// by Stripe from its OpenAPI spec). A property without `?` is required; `| null` makes it
// nullable. Run from a folder where `npm install stripe@<version> typescript` was done:
//
//     node generate.js > stripe-objects.schema.json
//
// Only the objects listed in RESOURCES get a definition; a reference to any other Stripe
// resource (an Account, an Invoice…) accepts any object. PRUNE lists sub-objects whose shape
// the sandbox never emits (payment methods other than cards): they accept any object too,
// which keeps the file small.
const path = require("path");
// typescript and stripe are installed in the folder the script is run from, not beside it.
const ts = require(require.resolve("typescript", { paths: [process.cwd()] }));

const PACKAGE = path.join(process.cwd(), "node_modules", "stripe");
const ROOT = path.join(PACKAGE, "cjs", "resources");
const RESOURCES = {
  payment_intent: ["PaymentIntents.d.ts", "PaymentIntent"],
  setup_intent: ["SetupIntents.d.ts", "SetupIntent"],
  charge: ["Charges.d.ts", "Charge"],
  refund: ["Refunds.d.ts", "Refund"],
  dispute: ["Disputes.d.ts", "Dispute"],
  payment_method: ["PaymentMethods.d.ts", "PaymentMethod"],
  customer: ["Customers.d.ts", "Customer"],
  deleted_customer: ["Customers.d.ts", "DeletedCustomer"],
  customer_balance_transaction: ["CustomerBalanceTransactions.d.ts", "CustomerBalanceTransaction"],
  balance_transaction: ["BalanceTransactions.d.ts", "BalanceTransaction"],
  event: ["Events.d.ts", "EventBase"],
  webhook_endpoint: ["WebhookEndpoints.d.ts", "WebhookEndpoint"],
  deleted_webhook_endpoint: ["WebhookEndpoints.d.ts", "DeletedWebhookEndpoint"],
  "billing_portal.session": ["BillingPortal/Sessions.d.ts", "Session"],
};
// Sub-objects keyed by a payment method type: only `card` is kept.
const BY_PAYMENT_METHOD_TYPE = [
  "charge.payment_method_details",
  "payment_intent.payment_method_options",
  "setup_intent.payment_method_options",
  "payment_method",
  "payment_intent.next_action",
  "setup_intent.next_action",
  "refund.destination_details",
  "dispute.payment_method_details",
  "payment_intent.last_payment_error.payment_method",
  "setup_intent.last_setup_error.payment_method",
  "setup_intent.latest_attempt",
  "charge.source",
];
const KEEP = new Set(["card", "type", "use_stripe_sdk", "redirect_to_url"]);

const files = [...new Set(Object.values(RESOURCES).map(([f]) => path.join(ROOT, f)))];
const program = ts.createProgram(files, { strict: true, skipLibCheck: true, noEmit: true });
const checker = program.getTypeChecker();

function topLevelInterface(file, name) {
  const source = program.getSourceFile(path.join(ROOT, file));
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) && statement.name.text === name) {
      return checker.getTypeAtLocation(statement.name);
    }
  }
  throw new Error(`${name} not found in ${file}`);
}

// A top-level interface of a resources file is a Stripe resource (namespace members are not).
function resourceName(type) {
  const symbol = type.aliasSymbol || type.getSymbol();
  if (!symbol || !symbol.declarations) return null;
  const decl = symbol.declarations[0];
  if (!ts.isInterfaceDeclaration(decl) || !ts.isSourceFile(decl.parent)) return null;
  if (!decl.getSourceFile().fileName.includes(`${path.sep}resources${path.sep}`)) return null;
  for (const [key, [file, name]] of Object.entries(RESOURCES)) {
    if (decl.getSourceFile().fileName === path.join(ROOT, file) && decl.name.text === name) {
      return key;
    }
  }
  return "other";
}

// `OtherString` (string & Record<never, never>): any string, joined to an enum's literals.
function isString(type) {
  if (type.flags & ts.TypeFlags.String) return true;
  return type.isIntersection() && type.types.some((t) => t.flags & ts.TypeFlags.String);
}

function convert(type, where, stack) {
  if (type.isUnion()) {
    const members = type.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined));
    const literals = members.filter((t) => t.isStringLiteral()).map((t) => t.value);
    const rest = members.filter((t) => !t.isStringLiteral());
    const nullable = rest.some((t) => t.flags & ts.TypeFlags.Null);
    const others = rest.filter((t) => !(t.flags & ts.TypeFlags.Null));
    const booleans = others.filter((t) => t.flags & ts.TypeFlags.BooleanLiteral);
    const schemas = [];
    if (literals.length) {
      // `'a' | 'b' | string` (an open enum) is a string
      if (!others.some(isString)) schemas.push({ enum: literals });
    }
    if (booleans.length) schemas.push({ type: "boolean" });
    for (const t of others.filter((t) => !(t.flags & ts.TypeFlags.BooleanLiteral))) {
      schemas.push(convert(t, where, stack));
    }
    if (nullable) schemas.push({ type: "null" });
    if (!schemas.length) throw new Error(`${where}: empty union`);
    return schemas.length === 1 ? schemas[0] : { anyOf: schemas };
  }
  if (isString(type)) return { type: "string" };
  if (type.flags & ts.TypeFlags.Number) return { type: "number" };
  if (type.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { type: "boolean" };
  if (type.isStringLiteral()) return { const: type.value };
  if (type.flags & ts.TypeFlags.Null) return { type: "null" };
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
  if (type.flags & ts.TypeFlags.Void) return { not: {} }; // `deleted?: void`: never present
  if (checker.isArrayType(type)) {
    return { type: "array", items: convert(checker.getTypeArguments(type)[0], where, stack) };
  }
  if (type.flags & ts.TypeFlags.Object) {
    const resource = stack.length ? resourceName(type) : null;
    if (resource === "other") return { type: "object" };
    if (resource) return { $ref: `#/$defs/${resource}` };
    if (stack.includes(type)) return { type: "object" };
    return objectSchema(type, where, [...stack, type]);
  }
  throw new Error(`${where}: unsupported type ${checker.typeToString(type)}`);
}

function objectSchema(type, where, stack) {
  const properties = {};
  const required = [];
  const pruned = BY_PAYMENT_METHOD_TYPE.some((p) => where === p);
  for (const prop of checker.getPropertiesOfType(type)) {
    const name = prop.getName();
    if (!(prop.flags & ts.SymbolFlags.Optional)) required.push(name);
    if (pruned && !KEEP.has(name)) {
      properties[name] = {};
      continue;
    }
    const decl = prop.valueDeclaration || prop.declarations[0];
    const propType = checker.getTypeOfSymbolAtLocation(prop, decl);
    properties[name] = convert(propType, `${where}.${name}`, stack);
  }
  const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
  // An empty interface (an event's `data.object`, `previous_attributes`): any object.
  if (!Object.keys(properties).length && !index) return { type: "object" };
  const schema = { type: "object", properties, required: required.sort() };
  if (index) {
    schema.additionalProperties = convert(index.type, `${where}[key]`, stack);
  } else {
    schema.additionalProperties = false;
  }
  if (!Object.keys(properties).length) delete schema.properties;
  if (!required.length) delete schema.required;
  return schema;
}

const defs = {};
for (const [key, [file, name]] of Object.entries(RESOURCES)) {
  const where = key === "deleted_customer" ? "customer" : key;
  defs[key] = objectSchema(topLevelInterface(file, name), where, [topLevelInterface(file, name)]);
}
const version = require(path.join(PACKAGE, "package.json")).version;
const apiVersion = require(path.join(ROOT, "..", "apiVersion.js")).ApiVersion;
process.stdout.write(
  JSON.stringify(
    {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      $comment: `Generated by generate.js from the types of the stripe npm package ${version}`,
      "x-stripe-api-version": apiVersion,
      $defs: defs,
    },
    null,
    1,
  ) + "\n",
);
