"""``balance-manager demo``: the whole product offline — a fresh SQLite database, the built-in
Stripe sandbox, the service with its embedded worker, and the original's test user with a
saved test card, so the original's example recharge happens within seconds. No keys needed.

Both ports are taken before anything else happens, so a busy one stops the demo with one line.
While it runs, the demo's settings (database, sandbox keys, token signing secret) are in
``<data dir>/env`` for the command line (``balance-manager --env-file .demo/env status``),
with its API key for ``balance-manager demo --banner``, which prints the banner again. The
demo logs warnings only unless ``--verbose``: the pages poll, and the banner must stay readable.

With ``balance-manager sandbox``, the only place the product imports ``stripe_sandbox``; it and
the SDK are imported when the demo runs, so that ``--help`` stays fast."""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from balance_manager.cli._shared import fail
from balance_manager.settings import Settings, load_settings
from balance_manager.web.links import dashboard_url

if TYPE_CHECKING:
    import stripe

DEMO_USER_ID = "cmd19la3k0000d3bvxl8nch31"  # the original README's test user
# Extra users whose cards show the unhappy paths: (id, email, Stripe test card).
DECLINE_USER = ("demo-decline", "decline@example.com", "pm_card_chargeCustomerFail")
SCA_USER = ("demo-3ds", "sca@example.com", "pm_card_authenticationRequired")
DEMO_USERS = (DEMO_USER_ID, DECLINE_USER[0], SCA_USER[0])


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    user_id: str
    api_key: str
    customer_token: str
    # Each demo user's dashboard link (the token rides in the URL fragment).
    dashboard_links: dict[str, str]


async def prepare(settings: Settings, sdk: stripe.StripeClient) -> DemoCredentials:
    """Migrate and seed: the test user at -50 (minimum 150, target 600) with a Visa test card,
    and two users whose cards decline or need authentication."""
    from balance_manager.auth import api_keys
    from balance_manager.runtime.compose import build_services
    from balance_manager.store import migrate
    from balance_manager.usecases import accounts, cards

    services = build_services(settings)
    gateway = services.gateway
    assert gateway is not None
    seeds = [
        (DEMO_USER_ID, "demo@example.com", "pm_card_visa", -50),
        (*DECLINE_USER, 200),
        (*SCA_USER, 200),
    ]
    try:
        await migrate.upgrade(services.engine)
        async with services.sessions.begin() as session:
            key = await api_keys.create_key(session, name="demo")
            for user_id, email, card, opening in seeds:
                user, _ = await accounts.create_user_in(
                    session,
                    settings,
                    accounts.NewUser(
                        email=email,
                        user_id=user_id,
                        minimum_balance=150,
                        target_balance=600,
                        initial_balance=opening,
                    ),
                )
                customer = await gateway.ensure_customer(user_id=user_id, email=email)
                method = sdk.v1.payment_methods.attach(card, params={"customer": customer})
                await gateway.set_customer_default(
                    customer_id=customer, payment_method_id=method.id
                )
                user.stripe_customer_id = customer
                await session.flush()
                await cards.set_default_in(services, session, user_id, method.id)
    finally:
        await services.aclose()
    return credentials(settings.signing_secret(), settings.public_base_url, key.secret)


def credentials(signing_secret: str, base: str, api_key: str) -> DemoCredentials:
    """Fresh 12-hour customer tokens and dashboard links for the demo's users."""
    from balance_manager.auth.tokens import TokenSigner

    signer = TokenSigner(signing_secret, ttl=timedelta(hours=12))
    tokens = {user_id: signer.mint(user_id).token for user_id in DEMO_USERS}
    links = {u: dashboard_url(base, t) for u, t in tokens.items()}
    return DemoCredentials(DEMO_USER_ID, api_key, tokens[DEMO_USER_ID], links)


def banner(
    base: str,
    sandbox_url: str,
    creds: DemoCredentials,
    *,
    cli: str = "balance-manager",
    env_file: str = ".demo/env",
    running: bool = True,
) -> str:
    u = creds.user_id
    decline, sca = DECLINE_USER[0], SCA_USER[0]
    links = "\n".join(f"  {user}: {link}" for user, link in creds.dashboard_links.items())
    with_env = f"{cli} --env-file {env_file}"
    return f"""
Stripe Balance Manager demo — {base}  (API docs: {base}/docs)
Stripe sandbox (offline Stripe) — {sandbox_url}

  operator API key : {creds.api_key}
  customer token   : {creds.customer_token}
  demo user        : {u}
                     balance -50, minimum 150, target 600, Visa test card saved:
                     within seconds the worker recharges 650 + fee 18.85 = 668.85 → balance 600

Customer pages (each link signs that customer in for 12 hours; open it in a browser):
{links}

Try:
  export KEY={creds.api_key}
  export TOKEN={creds.customer_token}
  curl {base}/health
  curl -H "Authorization: Bearer $TOKEN" -H "x-user-id: {u}" {base}/api/balance/status/{u}
  curl -H "Authorization: Bearer $TOKEN" "{base}/api/balance/history/{u}?page=1&limit=20"
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
       -d '{{"minimumBalance": 200, "targetBalance": 800, "maxDailyRecharges": 3}}' \\
       {base}/api/balance/config/{u}
  # usage that crosses the minimum triggers the next recharge at once:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 500, "idempotencyKey": "req-1"}}' {base}/api/balance/usage/{u}
  curl -X POST -H "Authorization: Bearer $TOKEN" {base}/api/balance/recharge/{u}

  # a card that declines ({decline}) — failed, backoff, paused after 3:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 100, "idempotencyKey": "d-1"}}' {base}/api/balance/usage/{decline}
  curl -H "Authorization: Bearer $KEY" {base}/api/balance/history/{decline}

  # a card that needs the customer to authenticate ({sca}) — requires_action:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 100, "idempotencyKey": "s-1"}}' {base}/api/balance/usage/{sca}
  curl -H "Authorization: Bearer $KEY" {base}/api/balance/history/{sca}
  # then open {sca}'s link above: the dashboard asks the customer to confirm with the bank

The command line, on this demo (its settings are in {env_file} while it runs):
  {with_env} status
  {with_env} reconcile --json
  {with_env} token {u}
  {cli} demo --banner      # this banner again, with fresh customer links
""" + ("\nPress Ctrl+C to stop.\n" if running else "")


def demo(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port for the service.")] = 3000,
    sandbox_port: Annotated[
        int,
        typer.Option(
            metavar="PORT", min=0, max=65535, help="Port for the Stripe sandbox (0: a free one)."
        ),
    ] = 0,
    data_dir: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Where the demo's SQLite file and env file live."),
    ] = Path(".demo"),
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Log every request and Stripe event (else warnings only, so the banner stays "
            "on screen).",
        ),
    ] = False,
    show_banner: Annotated[
        bool,
        typer.Option("--banner", help="Print the running demo's banner again (from DIR/env)."),
    ] = False,
) -> None:
    """Run the offline demo.

    The service on a fresh SQLite file, the Stripe sandbox, and the original's test user.
    While it runs, DIR/env holds its settings for the command line:
    balance-manager --env-file .demo/env status"""
    if show_banner:
        print_banner(data_dir)
        return
    run_demo(port=port, sandbox_port=sandbox_port, data_dir=data_dir, verbose=verbose)


def _listen(port: int, what: str, flag: str) -> socket.socket:
    """Bind ``port`` now (before anything is printed or started), or stop with one line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
        fail(f"port {port} for {what} {reason}: choose another, e.g. `make demo {flag}={port + 1}`")
    sock.listen(2048)
    return sock


def run_demo(*, port: int, sandbox_port: int = 0, data_dir: Path, verbose: bool = False) -> None:
    service_socket = _listen(port, "the demo", "PORT")
    sandbox_socket = _listen(sandbox_port, "the Stripe sandbox", "SANDBOX_PORT")
    sandbox_port = sandbox_socket.getsockname()[1]
    sandbox_socket.close()  # the sandbox binds it again, at once (SO_REUSEADDR)

    import stripe
    import uvicorn

    from balance_manager.auth.secret_box import new_key
    from balance_manager.runtime import logs
    from balance_manager.runtime.compose import create_app
    from stripe_sandbox import start_background

    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "demo.db"
    for stale in data_dir.glob("demo.db*"):
        stale.unlink()
    base = f"http://127.0.0.1:{port}"
    env_file = data_dir / "env"
    with service_socket, start_background(port=sandbox_port) as sandbox:
        sdk = stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})
        endpoint = sdk.v1.webhook_endpoints.create(params=_webhook_endpoint(base))
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{database.resolve()}",
            token_signing_secret=secrets.token_urlsafe(32),
            port=port,
            public_base_url=base,
            stripe_secret_key=sandbox.secret_key,
            stripe_publishable_key=sandbox.publishable_key,
            stripe_webhook_secret=endpoint.secret,
            stripe_api_base=sandbox.base_url,
            stripe_js_url=f"{sandbox.base_url}/v3/",  # the sandbox's Stripe.js stand-in
            recharge_check_interval=10,
            # Operator webhooks: receivers on this machine are allowed (the demo's only
            # kind), and their secrets are encrypted under a key of this run's own.
            webhook_allowed_networks="127.0.0.0/8",
            secrets_key=new_key(),
        )
        settings = settings.model_copy(update=_quiet(settings, verbose=verbose))
        logs.configure(settings.log_level, settings.log_format)
        creds = asyncio.run(prepare(settings, sdk))
        write_env_file(env_file, settings, api_key=creds.api_key)
        try:
            typer.echo(
                banner(base, sandbox.base_url, creds, cli=cli_name(), env_file=_shown(env_file))
            )
            server = uvicorn.Server(
                uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
            )
            server.run(sockets=[service_socket])
        finally:
            env_file.unlink(missing_ok=True)


def _webhook_endpoint(base: str) -> stripe.params.WebhookEndpointCreateParams:
    """The demo's Stripe webhook endpoint, as ``balance-manager stripe webhook-setup`` makes
    one: the service's API version and the event types it handles."""
    from balance_manager.payments.gateway import PINNED_API_VERSION
    from balance_manager.usecases.stripe_events import HANDLED_EVENT_TYPES

    return {
        "url": f"{base}/api/webhooks/stripe",
        "enabled_events": cast(Any, sorted(HANDLED_EVENT_TYPES)),
        "api_version": cast(Any, PINNED_API_VERSION),
    }


def _quiet(settings: Settings, *, verbose: bool) -> dict[str, object]:
    """The demo's logging: the pages poll every few seconds, so one line per request (or per
    Stripe event) would push the banner off the screen within a minute. An explicit
    LOG_LEVEL is kept."""
    if verbose:
        return {"access_log": True}
    level = settings.log_level if "log_level" in settings.model_fields_set else "warning"
    return {"access_log": False, "log_level": level}


# --- the env file: the running demo's settings for the command line -------------------------


def write_env_file(path: Path, settings: Settings, *, api_key: str) -> None:
    """The settings the demo chose, as ``NAME='value'`` lines (readable by ``--env-file``
    and by a shell's ``set -a; . .demo/env``), then the demo's API key and process id.
    Written 0600: it holds the demo's secrets."""
    lines = [
        "# Written by `balance-manager demo` for the command line, e.g.",
        f"#   balance-manager --env-file {_shown(path)} status",
        "# Valid while that demo runs (it removes this file when it stops).",
    ]
    # Its quiet logging is the demo's own: commands run with it log as usual (to stderr).
    chosen = settings.model_dump(include=settings.model_fields_set - {"log_level", "access_log"})
    for name, value in sorted(chosen.items()):
        lines.append(_assignment(name.upper(), value))
    lines.append("# Not settings: the demo's operator API key and process, for `demo --banner`.")
    lines.append(_assignment("DEMO_API_KEY", api_key))
    lines.append(_assignment("DEMO_PID", os.getpid()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _assignment(name: str, value: object) -> str:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    text = str(value).lower() if isinstance(value, bool) else str(value)
    # Single quotes: taken literally by dotenv and by a shell; our values never contain one.
    if "'" in text or "\n" in text:
        raise ValueError(f"{name}: a quote or a line break cannot be written to the env file")
    return f"{name}='{text}'"


def print_banner(data_dir: Path) -> None:
    """The banner of the demo running from ``data_dir``, with fresh customer links."""
    from dotenv import dotenv_values

    env_file = data_dir / "env"
    if not env_file.is_file():
        fail(
            f"no demo is running from {data_dir} ({env_file} not found): start one with `make demo`"
        )
    values = dotenv_values(env_file)
    pid = values.get("DEMO_PID") or ""
    if not pid.isdigit() or not _alive(int(pid)):
        fail(f"the demo that wrote {env_file} (pid {pid or '?'}) is not running: `make demo`")
    base, sandbox_url = values.get("PUBLIC_BASE_URL"), values.get("STRIPE_API_BASE")
    secret, api_key = values.get("TOKEN_SIGNING_SECRET"), values.get("DEMO_API_KEY")
    if not (base and sandbox_url and secret and api_key):
        fail(f"{env_file} is not a demo's env file (it lacks the demo's settings)")
    creds = credentials(secret, base, api_key)
    typer.echo(
        banner(base, sandbox_url, creds, cli=cli_name(), env_file=_shown(env_file), running=False)
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _shown(path: Path) -> str:
    """``path`` as a newcomer would type it: relative to the current directory if inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def cli_name() -> str:
    """How to run this command line from here: ``balance-manager`` when it is on PATH,
    else the script's path (``make demo`` runs ``.venv/bin/balance-manager``)."""
    script = Path(sys.argv[0])
    if script.name != "balance-manager":
        return f"{Path(sys.executable).name} -m balance_manager"
    on_path = shutil.which("balance-manager")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "balance-manager"
    return _shown(script)
