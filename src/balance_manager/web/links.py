"""Customer links: the token rides in the URL fragment, which browsers never send to a server
(so it cannot reach an access log or a Referer); the page moves it to ``sessionStorage``."""

from __future__ import annotations

from urllib.parse import quote


def dashboard_url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/#token={quote(token, safe='')}"
