"""Configuration from environment variables (and an optional ``.env`` file).

A missing or malformed setting stops start-up with one line naming it: see
:func:`load_settings` and :class:`ConfigError`. An empty value counts as unset
(``TOKEN_SIGNING_SECRET=`` in a copied ``.env.example`` is not a 0-character secret).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from balance_manager.auth import secret_box
from balance_manager.auth.tokens import MAX_TTL_SECONDS, MIN_TTL_SECONDS
from balance_manager.domain import addresses, money
from balance_manager.domain.policy import FeeMode, FeeRule, RechargeRules

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./balance-manager.db"
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def normalize_database_url(url: str) -> str:
    """Accept what platforms hand out (``postgres://``, ``postgresql://``, ``sqlite:///``)
    and return the async SQLAlchemy URL the service uses."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://user@host/db or sqlite:///file.db")
    scheme = scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}:
        parts = urlsplit("postgresql+asyncpg://" + rest)
        # asyncpg spells libpq's sslmode as ssl.
        query = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(query)))
    if scheme in {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}:
        return "sqlite+aiosqlite://" + rest
    raise ValueError(f"unsupported database scheme {scheme!r} (use postgresql:// or sqlite:///)")


class Settings(BaseSettings):
    """Every setting, by its environment variable name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    # Each setting's description is its documentation: docs/configuration.md is generated
    # from them (`make docs`), and a test fails when the two disagree.
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="`postgresql://…`, `postgres://…` (as platforms give it), `sqlite:///path`, "
        "or an SQLAlchemy async URL. `sslmode=` is translated for asyncpg.",
    )
    host: str = Field(
        default="127.0.0.1", description="Where `serve` listens (`--host` overrides)."
    )
    port: int = Field(
        default=3000, ge=1, le=65535, description="Where `serve` listens (`--port` overrides)."
    )
    default_currency: str = Field(
        default="usd",
        description="Currency of users created without one. Zero-decimal (JPY, KRW, …) and "
        "three-decimal (KWD, …) currencies are supported.",
    )
    default_recharge_fee_percentage: Decimal = Field(
        default=Decimal("0.029"),
        description="Card fee the customer pays: fee = round_half_up(amount × rate); a fraction "
        "from 0 up to (not including) 0.5.",
    )
    recharge_fee_mode: FeeMode = Field(
        default=FeeMode.PERCENTAGE,
        description="`gross_up` instead charges (amount + fixed) / (1 − rate), so the net is "
        "exactly the amount.",
    )
    recharge_fee_fixed: int = Field(
        default=0,
        ge=0,
        description="Fixed part for `gross_up` (Stripe's fixed part per charge), in minor units "
        "of the default currency.",
    )
    default_minimum_balance: Decimal = Field(
        default=Decimal(10),
        description="Minimum balance of users created without their own, in major units of "
        "their currency.",
    )
    default_target_balance: Decimal = Field(
        default=Decimal(100),
        description="Target balance of users created without their own, in major units of "
        "their currency.",
    )
    token_signing_secret: SecretStr | None = Field(
        default=None,
        description="Signs customer tokens; at least 32 characters. Required by `serve` and "
        "`token`.",
    )
    customer_token_ttl_seconds: int = Field(
        default=3600,
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
        description="Lifetime of customer tokens (60 s – 30 days).",
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None,
        description="`sk_test_…`/`sk_live_…` (or a restricted `rk_…` key). Without it the "
        "payment and recharge routes answer 503 and nothing is charged.",
    )
    stripe_publishable_key: str | None = Field(
        default=None,
        description="`pk_test_…`/`pk_live_…`, given to the customer pages (Payment Element, "
        "3-D Secure) through `/app-config.json`.",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="`whsec_…` of your webhook endpoint (`https://…/api/webhooks/stripe`); "
        "without it webhooks answer 503.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Point the SDK elsewhere (unset: Stripe): the sandbox "
        "(`balance-manager sandbox` listens on `http://127.0.0.1:12111`) or localstripe.",
    )
    stripe_timeout_seconds: float = Field(
        default=20.0, gt=0, le=120, description="Timeout of one request to Stripe, in seconds."
    )
    stripe_max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of one request to Stripe: network errors, 5xx and 429 are retried "
        "with the same idempotency key.",
    )
    stripe_js_url: str = Field(
        default="https://js.stripe.com/v3/",
        description="Where the customer pages load Stripe.js from; its origin is the one the "
        "pages' Content-Security-Policy allows. `make demo` points it at the sandbox's stand-in, "
        "`<sandbox URL>/v3/` (the sandbox's port is a free one unless `SANDBOX_PORT` is given; "
        "the banner and `.demo/env` name it).",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:3000",
        description="Where customers reach the service: the base of their dashboard links "
        "(`dashboardUrl`), and an allowed portal `returnUrl` origin.",
    )
    allowed_return_origins: str = Field(
        default="", description="More allowed portal `returnUrl` origins, comma-separated."
    )
    recharge_check_interval: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="Seconds between sweeps (the safety net; usage triggers recharges at once).",
    )
    recharge_max_consecutive_failures: int = Field(
        default=3, ge=1, le=100, description="Declines in a row before auto-recharge pauses."
    )
    recharge_retry_backoff_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Backoff after a decline, doubling with each consecutive failure.",
    )
    recharge_processing_timeout_seconds: int = Field(
        default=120,
        ge=5,
        le=86400,
        description="A charge left `processing` this long (its worker died) is re-driven with "
        "the same idempotency key.",
    )
    reconcile_interval_seconds: int = Field(
        default=86400,
        ge=0,
        le=30 * 86400,
        description="How often a worker reconciles with Stripe (the last stored run decides, so "
        "several workers share one schedule); `0` turns it off.",
    )
    reconcile_window_seconds: int = Field(
        default=2 * 86400,
        ge=3600,
        le=90 * 86400,
        description="How far back each of those runs looks (PaymentIntents, refunds and "
        "disputes created in the window).",
    )
    recharge_action_expiry_seconds: int = Field(
        default=86400,
        ge=60,
        le=30 * 86400,
        description="A recharge waiting this long (from when it was opened) for the customer's "
        "3-D Secure is canceled at Stripe (`failure_code` `action_expired`), so the next "
        "automatic recharge can start.",
    )
    embedded_worker: bool = Field(
        default=True,
        description="`serve` runs a worker in-process; set `false` when you run "
        "`balance-manager worker` separately.",
    )
    # Operator webhooks (the worker's dispatcher): see domain/webhooks.py for the schedule.
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Operator webhooks: the whole POST (connect, send, status line) must finish "
        "within this, else the attempt failed.",
    )
    webhook_retry_base_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="After the *n*-th failed attempt the next waits base × 2^(n−1) seconds, at "
        "most `WEBHOOK_RETRY_MAX_DELAY_SECONDS`.",
    )
    webhook_retry_max_delay_seconds: float = Field(
        default=21600.0,
        ge=1,
        le=86400,
        description="The longest wait between two attempts of a delivery (6 h).",
    )
    webhook_retry_period_seconds: float = Field(
        default=259200.0,
        ge=86400,
        le=30 * 86400,
        description="No retry is scheduled later than this after the delivery was created "
        "(3 days; at least 1 day); then the delivery is `failed`.",
    )
    webhook_disable_after_seconds: float = Field(
        default=86400.0,
        ge=3600,
        le=30 * 86400,
        description="An endpoint whose every attempt has failed for this long is disabled (and "
        "a `webhook_endpoint.disabled` event goes out).",
    )
    webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each worker's dispatcher looks for new events (one read, no lock).",
    )
    webhook_concurrency: int = Field(
        default=16,
        ge=2,
        le=256,
        description="Delivery slots per worker. Endpoints on probation (never delivered to yet, "
        "failing, or slow to answer) hold at most half of them, one each; the other half is "
        "the healthy endpoints'. See docs/concepts/operator-webhooks.md.",
    )
    webhook_endpoint_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Deliveries in flight to one healthy endpoint, per worker.",
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated addresses and CIDR networks that operator webhooks may "
        "reach although they are not public (e.g. `127.0.0.0/8,10.1.0.0/16` for development "
        "or internal receivers). Empty: only public addresses; loopback, private, link-local, "
        "multicast, unspecified and reserved ones are refused, checked on every connection.",
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) that encrypt operator webhook secrets at rest, "
        "comma-separated: the first encrypts, all decrypt (rotation). Required once webhook "
        'endpoints exist; make one with `python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"`.',
    )
    health_worker_stale_seconds: int = Field(
        default=60,
        ge=5,
        le=86400,
        description="`/health/ready`: a worker is alive when it finished a pass within this.",
    )
    health_queue_max_age_seconds: int = Field(
        default=300,
        ge=10,
        le=7 * 86400,
        description="`/health/ready`: longest a due recharge may wait for a worker.",
    )
    health_outbox_max_age_seconds: int = Field(
        default=0,
        ge=0,
        le=30 * 86400,
        description="`/health/ready`: longest an outbox event may wait for delivery; `0` turns "
        "the check off.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Unset: `GET /metrics` on the API, with an operator key. Set: a plain "
        "listener of its own on this port (on `HOST`), in `serve` and in `worker`, and no "
        "`/metrics` on the API.",
    )
    # uvicorn's variable and default.
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies (addresses, CIDR networks, `*`) whose `X-Forwarded-For`/`-Proto` "
        "and `X-Request-ID` are trusted.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="The lowest level logged (any case)."
    )
    log_format: Literal["console", "json"] = Field(
        default="console",
        description="`console` for people, `json` (one object a line) for log pipelines.",
    )
    access_log: bool = Field(
        default=True,
        description="One `http_request` log line per request (method, route, status, time; "
        "never the query string). `false` leaves access logging to your proxy; the demo "
        "turns it off unless `balance-manager demo --verbose`.",
    )
    max_request_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Larger request bodies get a 413."
    )
    request_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="`serve` answers 408 and closes a connection whose request headers are not "
        "complete this long after it opened (or after a kept-alive request's first byte).",
    )
    request_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="The same for the whole request body, counted from the end of the headers.",
    )
    # Sized for ~32 concurrent requests per process without opening and closing overflow
    # connections under steady load (each costs a connect, and a TLS attempt).
    # An overflow connection is closed as soon as it is returned: a pool smaller than the
    # usual concurrency opened ~25 connections a second under the benchmark's load.
    db_pool_size: int = Field(
        default=32,
        ge=1,
        le=200,
        description="PostgreSQL connection pool, per process. Keep it at or above the concurrent "
        "requests a process usually has: overflow connections are closed when returned, and "
        "opening one per request is slow.",
    )
    db_max_overflow: int = Field(
        default=8,
        ge=0,
        le=500,
        description="Connections a process may open beyond `DB_POOL_SIZE` under a burst.",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return money.currency(value).code
        except money.MoneyError as exc:
            raise ValueError(exc.message) from None

    @field_validator("default_recharge_fee_percentage")
    @classmethod
    def _fee(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) <= value < Decimal("0.5"):
            raise ValueError("must be a fraction between 0 and 0.5, e.g. 0.029 for 2.9 %")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        addresses.parse_networks(value)
        return value

    @field_validator("secrets_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret_box.parse_keys(value.get_secret_value())
        return value

    @property
    def webhook_address_policy(self) -> addresses.AddressPolicy:
        """Where operator webhooks may connect. (Not cached: ``model_copy`` would carry a
        cached value over to a copy with other networks.)"""
        return addresses.AddressPolicy(addresses.parse_networks(self.webhook_allowed_networks))

    @field_validator("token_signing_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @cached_property
    def fee_rule(self) -> FeeRule:
        return FeeRule(
            rate=self.default_recharge_fee_percentage,
            mode=self.recharge_fee_mode,
            fixed=self.recharge_fee_fixed,
        )

    @cached_property
    def recharge_rules(self) -> RechargeRules:
        return RechargeRules(
            fee_rule=self.fee_rule,
            max_consecutive_failures=self.recharge_max_consecutive_failures,
            backoff_seconds=self.recharge_retry_backoff_seconds,
            processing_timeout_seconds=self.recharge_processing_timeout_seconds,
        )

    @field_validator("stripe_secret_key")
    @classmethod
    def _stripe_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("sk_", "rk_")):
            raise ValueError("must be a Stripe secret key (sk_test_…, sk_live_… or rk_…)")
        return value

    @field_validator("public_base_url", "stripe_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://billing.example.com")
        return value.rstrip("/")

    @field_validator("stripe_js_url")
    @classmethod
    def _script_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://js.stripe.com/v3/")
        return value.strip()

    @property
    def return_origins(self) -> frozenset[str]:
        """Origins a portal ``returnUrl`` may point to (scheme://host[:port])."""
        origins = {_origin(self.public_base_url)}
        origins.update(_origin(o) for o in self.allowed_return_origins.split(",") if o.strip())
        return frozenset(origins)

    @property
    def stripe_js_origin(self) -> str:
        """scheme://host[:port] of STRIPE_JS_URL: what the pages' Content-Security-Policy allows."""
        return _origin(self.stripe_js_url)

    def signing_secret(self) -> str:
        """The token-signing secret; services that mint or verify tokens need it."""
        if self.token_signing_secret is None:
            raise ConfigError(
                "TOKEN_SIGNING_SECRET is not set: it signs customer tokens "
                f"(at least {MIN_SECRET_LENGTH} characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return self.token_signing_secret.get_secret_value()


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def read_env_file(path: Path) -> dict[str, str]:
    """The settings a dotenv file sets, by field name (empty values are unset, as in the
    environment); other variables in it are left out. Raises ConfigError when it is missing."""
    if not path.is_file():
        raise ConfigError(f"env file {path} not found")
    names = Settings.model_fields
    return {
        key.lower(): value
        for key, value in dotenv_values(path, encoding="utf-8").items()
        if value and key.lower() in names
    }


def load_settings(*, env_file: Path | None = None, **overrides: object) -> Settings:
    """Read the settings, or raise ConfigError naming the first bad variable.

    With ``env_file`` (the command line's ``--env-file``) the settings it names win over the
    environment's, and ``./.env`` is not read: the file was asked for by name, so an exported
    ``DATABASE_URL`` cannot quietly redirect a command meant for, say, the demo."""
    if env_file is not None:
        overrides = {"_env_file": None, **read_env_file(env_file), **overrides}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {message}") from None
