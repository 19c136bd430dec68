"""The sender connects to the address it checked, yet speaks TLS to the name: SNI and the
certificate check use the URL's host, as they would without the check (issue 18, item 2).
A real HTTPS server on 127.0.0.1 with a certificate for ``hooks.example.test`` only, from a
throwaway CA (trustme); the name resolves through the sender's resolver seam."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network

import pytest
import trustme

from balance_manager.domain.addresses import AddressPolicy
from balance_manager.senders.webhook import Sender
from tests.integration.webhook_support import FakeDNS

NAME = "hooks.example.test"
LOOPBACK_ALLOWED = AddressPolicy((ip_network("127.0.0.0/8"),))


class TLSReceiver:
    def __init__(self, ca: trustme.CA) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(NAME).configure_cert(context)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.hosts.append(self.headers["host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def receiver(ca: trustme.CA) -> Iterator[TLSReceiver]:
    running = TLSReceiver(ca)
    yield running
    running.server.shutdown()
    running.server.server_close()


def _sender(ca: trustme.CA, dns: FakeDNS, policy: AddressPolicy = LOOPBACK_ALLOWED) -> Sender:
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return Sender(timeout=5, check=policy.refusal, resolve=dns, ssl_context=client_context)


async def test_tls_goes_to_the_checked_address_with_the_names_sni_and_certificate(
    ca: trustme.CA, receiver: TLSReceiver
) -> None:
    dns = FakeDNS({NAME: ["127.0.0.1"]})
    sender = _sender(ca, dns)
    try:
        sent = await sender.post(f"https://{NAME}:{receiver.port}/in", b"{}", {})
    finally:
        await sender.aclose()
    assert (sent.status_code, sent.error) == (204, None)
    assert receiver.server_names == [NAME]
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    assert dns.asked == [NAME]


async def test_a_certificate_for_another_name_is_refused(
    ca: trustme.CA, receiver: TLSReceiver
) -> None:
    """Were the address used for TLS instead of the name, this would not be caught."""
    dns = FakeDNS({"other.example.test": ["127.0.0.1"]})
    sender = _sender(ca, dns)
    try:
        sent = await sender.post(f"https://other.example.test:{receiver.port}/in", b"{}", {})
    finally:
        await sender.aclose()
    assert sent.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in str(sent.error), sent.error
    assert receiver.hosts == []


async def test_a_blocked_name_never_reaches_the_tls_server(
    ca: trustme.CA, receiver: TLSReceiver
) -> None:
    sender = _sender(ca, FakeDNS({NAME: ["127.0.0.1"]}), policy=AddressPolicy())
    try:
        sent = await sender.post(f"https://{NAME}:{receiver.port}/in", b"{}", {})
    finally:
        await sender.aclose()
    assert str(sent.error).startswith(f"blocked_address: {NAME}: 127.0.0.1 is loopback")
    assert receiver.server_names == [] and receiver.hosts == []
