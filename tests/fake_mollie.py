"""A local stand-in for Mollie's Payments API v2 on loopback, for tests only: it speaks the
documented requests and answers (`POST /v2/payments`, `GET /v2/payments/{id}`, bearer key,
HAL `_links.checkout`), so our adapter runs through Mollie's own Python client unchanged.
Tests move a payment's status as a customer would (`pay`, `fail`, ...) and can take the API
down."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "test_" + "k" * 30


class FakeMollie:
    def __init__(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self.down = False
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def set_status(self, payment_id: str, status: str) -> None:
        with self._lock:
            payment = self.payments[payment_id]
            payment["status"] = status
            if status == "paid":
                payment["paidAt"] = datetime.now(UTC).isoformat(timespec="seconds")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            payment_id = f"tr_{uuid.uuid4().hex[:10]}"  # unique, as Mollie's are
            payment = {
                "resource": "payment", "id": payment_id, "mode": "test",
                "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
                "amount": body["amount"], "description": body["description"],
                "method": body.get("method"), "metadata": body.get("metadata"),
                "status": "open", "isCancelable": False, "profileId": "pfl_test",
                "sequenceType": "oneoff", "redirectUrl": body["redirectUrl"],
                "webhookUrl": body.get("webhookUrl"), "locale": body.get("locale"),
                "_links": {
                    "self": {"href": f"{self.url}/v2/payments/{payment_id}",
                             "type": "application/hal+json"},
                    "checkout": {"href": f"{self.url}/checkout/{payment_id}",
                                 "type": "text/html"}},
            }
            self.payments[payment_id] = payment
            return payment

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/hal+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                if fake.down:
                    self._answer(503, {"status": 503, "title": "Service Unavailable",
                                       "detail": "Down for a test"})
                    return True
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._answer(401, {"status": 401, "title": "Unauthorized Request",
                                       "detail": "Missing authentication, or failed to "
                                                 "authenticate"})
                    return True
                return False

            def do_POST(self) -> None:  # noqa: N802
                if self._refused():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v2/payments":
                    self._answer(404, {"status": 404, "title": "Not Found", "detail": ""})
                    return
                self._answer(201, fake._create(body))

            def do_GET(self) -> None:  # noqa: N802
                if self._refused():
                    return
                payment = fake.payments.get(self.path.rsplit("/", 1)[-1].split("?")[0])
                if not self.path.startswith("/v2/payments/") or payment is None:
                    self._answer(404, {"status": 404, "title": "Not Found",
                                       "detail": "No payment exists with token"})
                    return
                self._answer(200, payment)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


@contextmanager
def fake_mollie() -> Iterator[FakeMollie]:
    fake = FakeMollie()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
