"""Configuration from environment variables (and an optional ``.env`` file).

A missing or malformed setting stops start-up with one line naming it: see
:func:`load_settings` and :class:`ConfigError`.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from balance_manager.auth.tokens import MAX_TTL_SECONDS, MIN_TTL_SECONDS
from balance_manager.domain import money
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

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    default_currency: str = "usd"
    default_recharge_fee_percentage: Decimal = Decimal("0.029")
    recharge_fee_mode: FeeMode = FeeMode.PERCENTAGE
    # Only in gross_up mode: Stripe's fixed part per charge, in the default currency's minor units.
    recharge_fee_fixed: int = Field(default=0, ge=0)
    # Thresholds for users created without their own, in major units of their currency.
    default_minimum_balance: Decimal = Decimal(10)
    default_target_balance: Decimal = Decimal(100)
    token_signing_secret: SecretStr | None = None
    customer_token_ttl_seconds: int = Field(default=3600, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS)
    # Stripe. STRIPE_API_BASE points the SDK at the sandbox (or localstripe) instead of Stripe.
    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    stripe_max_retries: int = Field(default=3, ge=0, le=10)
    # Where the customer pages load Stripe.js from: Stripe's in production, the sandbox's
    # stand-in (``{sandbox}/v3/``) offline. Its origin is the one the pages' CSP allows.
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Where customers reach the service (pages, portal return URLs); its origin is always an
    # allowed portal return origin. ALLOWED_RETURN_ORIGINS adds more, comma-separated.
    public_base_url: str = "http://127.0.0.1:3000"
    allowed_return_origins: str = ""
    # The recharge engine.
    recharge_check_interval: int = Field(default=300, ge=1, le=86400)
    recharge_max_consecutive_failures: int = Field(default=3, ge=1, le=100)
    recharge_retry_backoff_seconds: int = Field(default=300, ge=0, le=86400)
    recharge_processing_timeout_seconds: int = Field(default=120, ge=5, le=86400)
    # Reconciliation with Stripe by the worker: how often (0: never) and over how much of the
    # past (PaymentIntents, refunds and disputes created in the window).
    reconcile_interval_seconds: int = Field(default=86400, ge=0, le=30 * 86400)
    reconcile_window_seconds: int = Field(default=2 * 86400, ge=3600, le=90 * 86400)
    # A recharge waiting for the customer's authentication this long is canceled at Stripe
    # (failure_code action_expired) so the next automatic recharge may start.
    recharge_action_expiry_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    embedded_worker: bool = True
    # Operator webhooks (the worker's dispatcher): see domain/webhooks.py for the schedule.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_base_seconds: float = Field(default=10.0, ge=1, le=3600)
    webhook_retry_max_delay_seconds: float = Field(default=21600.0, ge=1, le=86400)
    webhook_retry_period_seconds: float = Field(default=259200.0, ge=86400, le=30 * 86400)
    webhook_disable_after_seconds: float = Field(default=86400.0, ge=3600, le=30 * 86400)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    # Readiness (/health/ready): a worker is alive when it beat within this; the oldest due
    # recharge may wait this long; the outbox's oldest undelivered event this long (0: off).
    health_worker_stale_seconds: int = Field(default=60, ge=5, le=86400)
    health_queue_max_age_seconds: int = Field(default=300, ge=10, le=7 * 86400)
    health_outbox_max_age_seconds: int = Field(default=0, ge=0, le=30 * 86400)
    # Prometheus: unset → GET /metrics on the API with an operator key; set → a plain
    # listener of its own on this port (serve and worker alike), and no /metrics on the API.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Peers trusted for X-Forwarded-* and X-Request-ID (uvicorn's variable and default).
    forwarded_allow_ips: str = "127.0.0.1"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # How long `serve` waits for a request's headers (from the connection, or a kept-alive
    # request's first byte) and then for its whole body, before answering 408 and closing.
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Sized for ~32 concurrent requests per process without opening and closing overflow
    # connections under steady load (each costs a connect, and a TLS attempt).
    # An overflow connection is closed as soon as it is returned: a pool smaller than the
    # usual concurrency opened ~25 connections a second under the benchmark's load.
    db_pool_size: int = Field(default=32, ge=1, le=200)
    db_max_overflow: int = Field(default=8, ge=0, le=500)

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


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {message}") from None
