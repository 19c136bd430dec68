"""The Content-Security-Policy of the customer pages and of the API docs.

Pages run only the service's own scripts plus Stripe.js from the configured origin: no inline
script anywhere, no ``eval``, nothing may frame them. Stripe.js talks to its own origin and
shows 3-D Secure in frames from it; real Stripe.js (``https://js.stripe.com``) also needs the
companion hosts Stripe's security guide lists (``api.stripe.com`` for its requests,
``hooks.stripe.com`` and ``*.js.stripe.com`` for its frames), which are added only for that
origin. Swagger UI and ReDoc inject styles (and ReDoc a worker from a ``blob:``), so the docs
get a policy of their own.
"""

from __future__ import annotations

STRIPE_JS_ORIGIN = "https://js.stripe.com"
# https://docs.stripe.com/security/guide#content-security-policy
_STRIPE_COMPANIONS = {
    "script-src": ("https://*.js.stripe.com",),
    "frame-src": ("https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}


def _render(directives: dict[str, tuple[str, ...]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def page_policy(stripe_js_origin: str) -> str:
    """The policy of every customer page (dashboard, payment, debug, success)."""
    real_stripe = stripe_js_origin == STRIPE_JS_ORIGIN

    def with_stripe(directive: str, *own: str) -> tuple[str, ...]:
        extra = _STRIPE_COMPANIONS.get(directive, ()) if real_stripe else ()
        return (*own, stripe_js_origin, *extra)

    return _render(
        {
            "default-src": ("'self'",),
            "script-src": with_stripe("script-src", "'self'"),
            "connect-src": with_stripe("connect-src", "'self'"),
            "frame-src": with_stripe("frame-src"),
            "style-src": ("'self'",),
            "img-src": ("'self'",),
            "font-src": ("'self'",),
            "worker-src": ("'self'",),
            "manifest-src": ("'self'",),
            "object-src": ("'none'",),
            "base-uri": ("'none'",),
            "form-action": ("'self'",),
            "frame-ancestors": ("'none'",),
        }
    )


DOCS_POLICY = _render(
    {
        "default-src": ("'self'",),
        "script-src": ("'self'",),
        "style-src": ("'self'", "'unsafe-inline'"),
        "img-src": ("'self'", "data:"),
        "font-src": ("'self'", "data:"),
        "worker-src": ("'self'", "blob:"),
        "connect-src": ("'self'",),
        "object-src": ("'none'",),
        "base-uri": ("'none'",),
        "frame-ancestors": ("'none'",),
    }
)
