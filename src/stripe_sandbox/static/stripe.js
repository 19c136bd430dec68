/*
 * Stripe.js stand-in served by the Stripe sandbox at /v3/ (and /js.stripe.com/v3/).
 *
 * The subset of https://docs.stripe.com/js a card-saving / card-paying page uses:
 *   Stripe(pk) → elements({clientSecret, appearance}) → create('payment' | 'card')
 *   → mount / unmount / on('ready' | 'change'); confirmSetup, confirmPayment,
 *   confirmCardSetup, confirmCardPayment, retrieveSetupIntent, retrievePaymentIntent,
 *   handleNextAction, handleCardAction, createPaymentMethod.
 * It talks to the sandbox that served it, authenticated with the publishable key and the
 * intent's client secret, as real Stripe.js does. Card fields are plain inputs (real Stripe.js
 * uses iframes); 3D Secure is an in-page dialog with "Complete" and "Fail" buttons.
 */
(function () {
  "use strict";

  var current = document.currentScript;
  var API = current && current.src ? new URL(current.src).origin : window.location.origin;

  // ------------------------------------------------------------------ HTTP
  function encode(params, prefix, out) {
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      var name = prefix ? prefix + "[" + key + "]" : key;
      if (value === undefined || value === null) return;
      if (typeof value === "object") encode(value, name, out);
      else out.push(encodeURIComponent(name) + "=" + encodeURIComponent(String(value)));
    });
    return out;
  }

  function request(key, method, path, params) {
    var init = { method: method, headers: { Authorization: "Bearer " + key } };
    var url = API + path;
    var body = encode(params || {}, "", []).join("&");
    if (method === "GET") {
      if (body) url += "?" + body;
    } else {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = body;
    }
    return fetch(url, init).then(
      function (r) {
        return r.json().then(function (json) { return { ok: r.ok, status: r.status, body: json }; });
      },
      function (err) {
        return { ok: false, status: 0,
                 body: { error: { type: "api_connection_error", message: String(err) } } };
      }
    );
  }

  function parseSecret(secret) {
    var id = String(secret || "").split("_secret_")[0];
    var setup = id.indexOf("seti_") === 0;
    return { id: id, setup: setup, path: setup ? "/v1/setup_intents/" : "/v1/payment_intents/",
             field: setup ? "setupIntent" : "paymentIntent",
             param: setup ? "setup_intent" : "payment_intent" };
  }

  // ------------------------------------------------------------------ card validation
  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = parseInt(number.charAt(number.length - 1 - i), 10);
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function brandOf(number) {
    if (/^4/.test(number)) return "visa";
    if (/^(5[1-5]|2)/.test(number)) return "mastercard";
    if (/^3[47]/.test(number)) return "amex";
    return "unknown";
  }

  function validationError(code, message) {
    return { type: "validation_error", code: code, message: message };
  }

  // ------------------------------------------------------------------ Elements
  function CardElement(elements, type, options) {
    this._elements = elements;
    this._type = type;
    this._options = options || {};
    this._handlers = {};
    this._root = null;
    this._inputs = null;
  }

  CardElement.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };
  CardElement.prototype.once = function (event, handler) {
    var self = this;
    function wrapped(e) { self.off(event, wrapped); handler(e); }
    return this.on(event, wrapped);
  };
  CardElement.prototype.off = function (event, handler) {
    var list = this._handlers[event] || [];
    this._handlers[event] = handler ? list.filter(function (h) { return h !== handler; }) : [];
    return this;
  };
  CardElement.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).slice().forEach(function (h) { h(payload); });
  };

  CardElement.prototype.mount = function (target) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) throw new Error("Stripe sandbox: mount target not found: " + target);
    var vars = (this._elements._appearance && this._elements._appearance.variables) || {};
    var root = document.createElement("div");
    root.className = "StripeElement sandbox-" + this._type + "-element";
    root.setAttribute("data-testid", "stripe-" + this._type + "-element");
    root.style.cssText = "display:flex;flex-wrap:wrap;gap:6px;padding:8px;border:1px solid " +
      (vars.colorPrimary || "#cbd2d9") + ";border-radius:" + (vars.borderRadius || "6px") +
      ";font-family:" + (vars.fontFamily || "system-ui, sans-serif");
    if (this._type === "payment") {
      var tab = document.createElement("div");
      tab.textContent = "Card";
      tab.style.cssText = "width:100%;font-weight:600" + (vars.colorText ? ";color:" + vars.colorText : "");
      root.appendChild(tab);
    }
    var self = this;
    function input(name, placeholder, size) {
      var el = document.createElement("input");
      el.setAttribute("data-testid", "card-" + name);
      el.setAttribute("aria-label", placeholder);
      el.name = "sandbox-card-" + name;
      el.placeholder = placeholder;
      el.autocomplete = "off";
      el.inputMode = "numeric";
      el.size = size;
      el.style.cssText = "padding:6px;border:1px solid #e3e8ee;border-radius:4px";
      el.addEventListener("input", function () { self._changed(); });
      el.addEventListener("focus", function () { self._emit("focus", { elementType: self._type }); });
      el.addEventListener("blur", function () { self._emit("blur", { elementType: self._type }); });
      root.appendChild(el);
      return el;
    }
    this._inputs = {
      number: input("number", "1234 1234 1234 1234", 22),
      expiry: input("expiry", "MM / YY", 7),
      cvc: input("cvc", "CVC", 4),
    };
    var errorBox = document.createElement("div");
    errorBox.setAttribute("role", "alert");
    errorBox.setAttribute("data-testid", "card-error");
    errorBox.style.cssText = "width:100%;color:" + (vars.colorDanger || "#df1b41") + ";font-size:.9em";
    root.appendChild(errorBox);
    this._errorBox = errorBox;
    container.appendChild(root);
    this._root = root;
    setTimeout(function () { self._emit("ready", { elementType: self._type }); }, 0);
  };

  CardElement.prototype.unmount = function () {
    if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
    this._root = null;
    this._inputs = null;
  };
  CardElement.prototype.destroy = function () {
    this.unmount();
    delete this._elements._byType[this._type];
  };
  CardElement.prototype.update = function (options) {
    for (var k in options) this._options[k] = options[k];
  };
  CardElement.prototype.focus = function () { if (this._inputs) this._inputs.number.focus(); };
  CardElement.prototype.blur = function () { if (this._inputs) this._inputs.number.blur(); };
  CardElement.prototype.clear = function () {
    if (!this._inputs) return;
    this._inputs.number.value = this._inputs.expiry.value = this._inputs.cvc.value = "";
    this._changed();
  };

  CardElement.prototype._read = function () {
    if (!this._inputs) return { error: validationError("incomplete", "The card element is not mounted.") };
    var number = this._inputs.number.value.replace(/[\s-]/g, "");
    var exp = this._inputs.expiry.value.replace(/\s/g, "").split("/");
    var cvc = this._inputs.cvc.value.trim();
    var empty = !number && !this._inputs.expiry.value && !cvc;
    var brand = brandOf(number);
    var error = null;
    if (!number || number.length < 12) error = validationError("incomplete_number", "Your card number is incomplete.");
    else if (!/^\d+$/.test(number) || !luhn(number)) error = validationError("invalid_number", "Your card number is invalid.");
    else if (exp.length !== 2 || !/^\d{1,2}$/.test(exp[0]) || !/^\d{2,4}$/.test(exp[1])) error = validationError("incomplete_expiry", "Your card's expiration date is incomplete.");
    else if (+exp[0] < 1 || +exp[0] > 12) error = validationError("invalid_expiry_month", "Your card's expiration month is invalid.");
    else if (!/^\d{3,4}$/.test(cvc)) error = validationError("incomplete_cvc", "Your card's security code is incomplete.");
    var year = exp.length === 2 ? +exp[1] : 0;
    if (year && year < 100) year += 2000;
    return { empty: empty, brand: brand, error: error,
             card: { number: number, exp_month: exp.length === 2 ? +exp[0] : null, exp_year: year || null, cvc: cvc } };
  };

  CardElement.prototype._changed = function () {
    var data = this._read();
    var showError = data.error && !/^incomplete/.test(data.error.code) ? data.error : undefined;
    if (this._errorBox) this._errorBox.textContent = showError ? showError.message : "";
    this._emit("change", { elementType: this._type, empty: data.empty, complete: !data.error,
                           error: showError, brand: data.brand, value: { type: "card" } });
  };

  function Elements(stripe, options) {
    options = options || {};
    this._stripe = stripe;
    this._clientSecret = options.clientSecret || null;
    this._appearance = options.appearance || {};
    this._options = options;
    this._byType = {};
  }
  Elements.prototype.create = function (type, options) {
    if (type !== "payment" && type !== "card") {
      throw new Error("Stripe sandbox: element type not emulated: " + type);
    }
    if (this._byType[type]) throw new Error("Can only create one Element of type " + type + ".");
    var el = new CardElement(this, type, options);
    this._byType[type] = el;
    return el;
  };
  Elements.prototype.getElement = function (type) { return this._byType[type] || null; };
  Elements.prototype.update = function (options) {
    if (options.appearance) this._appearance = options.appearance;
    for (var k in options) this._options[k] = options[k];
  };
  Elements.prototype.fetchUpdates = function () { return Promise.resolve({}); };
  Elements.prototype.submit = function () {
    var el = this._byType.payment || this._byType.card;
    if (!el) return Promise.resolve({ error: validationError("incomplete", "No Element is mounted.") });
    var data = el._read();
    el._changed();
    return Promise.resolve(data.error ? { error: data.error } : {});
  };
  Elements.prototype._element = function () { return this._byType.payment || this._byType.card || null; };

  // ------------------------------------------------------------------ 3D Secure dialog
  function challenge(intent) {
    return new Promise(function (resolve) {
      var overlay = document.createElement("div");
      overlay.setAttribute("data-testid", "3ds-dialog");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", "3D Secure authentication");
      overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;" +
        "align-items:center;justify-content:center;z-index:2147483647";
      var box = document.createElement("div");
      box.style.cssText = "background:#fff;color:#1a1f36;padding:24px;border-radius:8px;max-width:360px;" +
        "margin:12px;font-family:system-ui,sans-serif";
      var what = intent.object === "payment_intent"
        ? "a payment of " + intent.amount + " " + String(intent.currency).toUpperCase() + " (minor units)"
        : "saving this card for later payments";
      // Built node by node, no markup: pages with a strict Content-Security-Policy (no inline
      // styles) show it as intended.
      var title = document.createElement("h2");
      title.textContent = "3D Secure test page";
      title.style.marginTop = "0";
      var text = document.createElement("p");
      text.textContent = "Your bank asks you to confirm " + what + ".";
      box.appendChild(title);
      box.appendChild(text);
      [["complete", "Complete authentication"], ["fail", "Fail authentication"]].forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b[1];
        button.setAttribute("data-testid", "3ds-" + b[0]);
        button.style.cssText = "margin:4px;padding:8px 12px";
        button.addEventListener("click", function () {
          document.body.removeChild(overlay);
          resolve(b[0]);
        });
        box.appendChild(button);
      });
      overlay.appendChild(box);
      document.body.appendChild(overlay);
      var first = box.querySelector("button");
      if (first) first.focus(); // a modal dialog takes the keyboard focus
    }).then(function (outcome) {
      return fetch(API + "/_sandbox/authenticate/" + intent.id, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "client_secret=" + encodeURIComponent(intent.client_secret) + "&outcome=" + outcome,
      }).then(function (r) { return r.json(); });
    });
  }

  // ------------------------------------------------------------------ Stripe(pk)
  function StripeSandbox(key, options) {
    if (!(this instanceof StripeSandbox)) return new StripeSandbox(key, options);
    if (typeof key !== "string" || key.indexOf("pk_") !== 0) {
      throw new Error("Stripe sandbox: Stripe() needs a publishable key (pk_test_…).");
    }
    this._key = key;
    this._options = options || {};
  }

  StripeSandbox.prototype.elements = function (options) { return new Elements(this, options); };

  StripeSandbox.prototype._createPaymentMethod = function (element, billingDetails) {
    var data = element._read();
    element._changed();
    if (data.error) return Promise.resolve({ error: data.error });
    return request(this._key, "POST", "/v1/payment_methods", {
      type: "card", card: data.card, billing_details: billingDetails || undefined,
    }).then(function (res) {
      return res.ok ? { paymentMethod: res.body } : { error: res.body.error };
    });
  };

  StripeSandbox.prototype.createPaymentMethod = function (a, b) {
    var params = a && a.elements ? (a.params || {}) : a || {};
    var element = a && a.elements ? a.elements._element() : params.card;
    if (!element) return Promise.resolve({ error: validationError("incomplete", "No card Element given.") });
    return this._createPaymentMethod(element, params.billing_details);
  };

  StripeSandbox.prototype._retrieve = function (clientSecret) {
    var info = parseSecret(clientSecret);
    return request(this._key, "GET", info.path + info.id, { client_secret: clientSecret })
      .then(function (res) {
        var out = {};
        if (res.ok) out[info.field] = res.body; else out.error = res.body.error;
        return out;
      });
  };
  StripeSandbox.prototype.retrieveSetupIntent = StripeSandbox.prototype._retrieve;
  StripeSandbox.prototype.retrievePaymentIntent = StripeSandbox.prototype._retrieve;

  // The result of an intent after any 3D Secure: {setupIntent|paymentIntent} or {error}.
  StripeSandbox.prototype._settle = function (intent, handleActions) {
    var info = parseSecret(intent.client_secret);
    var self = this;
    var step = Promise.resolve(intent);
    if (intent.status === "requires_action" && handleActions !== false) {
      step = challenge(intent).then(function () {
        return self._retrieve(intent.client_secret).then(function (r) { return r[info.field] || intent; });
      });
    }
    return step.then(function (final) {
      var lastError = final.last_setup_error || final.last_payment_error;
      if (final.status === "requires_payment_method" && lastError) {
        var error = {};
        for (var k in lastError) error[k] = lastError[k];
        error[info.param] = final;
        return { error: error };
      }
      var out = {};
      out[info.field] = final;
      return out;
    });
  };

  StripeSandbox.prototype._confirm = function (clientSecret, paymentMethod, element, billing, extra, handleActions) {
    var info = parseSecret(clientSecret);
    var self = this;
    var pmStep;
    if (typeof paymentMethod === "string") pmStep = Promise.resolve({ id: paymentMethod });
    else if (element) {
      pmStep = this._createPaymentMethod(element, billing).then(function (r) {
        if (r.error) throw { stripeError: r.error };
        return r.paymentMethod;
      });
    } else pmStep = Promise.resolve(null);
    return pmStep.then(function (pm) {
      var params = { client_secret: clientSecret, use_stripe_sdk: "true" };
      if (pm) params.payment_method = pm.id;
      for (var k in extra || {}) params[k] = extra[k];
      return request(self._key, "POST", info.path + info.id + "/confirm", params);
    }).then(function (res) {
      if (!res.ok) return { error: res.body.error };
      return self._settle(res.body, handleActions);
    }, function (err) {
      if (err && err.stripeError) return { error: err.stripeError };
      throw err;
    });
  };

  function redirectAfter(result, returnUrl, redirect) {
    var intent = result.setupIntent || result.paymentIntent;
    if (result.error || redirect === "if_required" || !returnUrl) return result;
    var kind = intent.object;
    var status = intent.status === "succeeded" || intent.status === "processing" ? intent.status : "failed";
    var url = returnUrl + (returnUrl.indexOf("?") >= 0 ? "&" : "?") +
      encodeURIComponent(kind) + "=" + encodeURIComponent(intent.id) + "&" +
      encodeURIComponent(kind + "_client_secret") + "=" + encodeURIComponent(intent.client_secret) +
      "&redirect_status=" + status;
    window.location.assign(url);
    return new Promise(function () {}); // like Stripe.js: the page navigates away
  }

  function confirmWithElements(self, options) {
    options = options || {};
    var elements = options.elements;
    var confirmParams = options.confirmParams || {};
    var secret = options.clientSecret || (elements && elements._clientSecret);
    if (!secret) return Promise.resolve({ error: validationError("missing_client_secret", "A clientSecret is required.") });
    var element = elements ? elements._element() : null;
    var pmData = confirmParams.payment_method_data || {};
    var pm = typeof confirmParams.payment_method === "string" ? confirmParams.payment_method : null;
    var extra = {};
    if (confirmParams.return_url) extra.return_url = confirmParams.return_url;
    if (confirmParams.receipt_email) extra.receipt_email = confirmParams.receipt_email;
    if (confirmParams.setup_future_usage) extra.setup_future_usage = confirmParams.setup_future_usage;
    return self._confirm(secret, pm, pm ? null : element, pmData.billing_details, extra, true)
      .then(function (result) { return redirectAfter(result, confirmParams.return_url, options.redirect); });
  }

  StripeSandbox.prototype.confirmSetup = function (options) { return confirmWithElements(this, options); };
  StripeSandbox.prototype.confirmPayment = function (options) { return confirmWithElements(this, options); };

  function cardConfirm(self, clientSecret, data, options) {
    data = data || {};
    var pm = data.payment_method;
    var element = pm && typeof pm === "object" ? pm.card : null;
    var billing = pm && typeof pm === "object" ? pm.billing_details : undefined;
    var extra = {};
    if (data.setup_future_usage) extra.setup_future_usage = data.setup_future_usage;
    if (data.return_url) extra.return_url = data.return_url;
    var handle = !(options && options.handleActions === false);
    return self._confirm(clientSecret, typeof pm === "string" ? pm : null, element, billing, extra, handle);
  }

  StripeSandbox.prototype.confirmCardSetup = function (s, d, o) { return cardConfirm(this, s, d, o); };
  StripeSandbox.prototype.confirmCardPayment = function (s, d, o) { return cardConfirm(this, s, d, o); };

  StripeSandbox.prototype.handleNextAction = function (options) {
    var self = this;
    var secret = options && options.clientSecret;
    return this._retrieve(secret).then(function (r) {
      var intent = r.setupIntent || r.paymentIntent;
      if (!intent) return r;
      if (intent.status !== "requires_action") {
        return { error: { type: "invalid_request_error", code: "unexpected_state",
                          message: "This intent does not require action (status: " + intent.status + ")." } };
      }
      return self._settle(intent, true);
    });
  };
  StripeSandbox.prototype.handleCardAction = function (clientSecret) {
    return this.handleNextAction({ clientSecret: clientSecret });
  };

  StripeSandbox.sandbox = { api: API };
  window.Stripe = StripeSandbox;
})();
