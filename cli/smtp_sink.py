"""A local SMTP server (aiosmtpd on loopback) that keeps every mail as an .eml file."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class EmlFolder:
    """aiosmtpd handler: writes each message to `folder` and tells `on_mail` about it."""

    def __init__(self, folder: Path, on_mail: Callable[[EmailMessage], None] | None = None):
        self.folder = folder
        self.on_mail = on_mail
        self.count = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        key = str(message.get("X-Herregistratie-Key", "mail")).strip().replace(":", "_")
        (self.folder / f"{self.count:04d}-{key}.eml").write_bytes(raw)
        if self.on_mail is not None:
            self.on_mail(message)
        return "250 OK"


def start_sink(folder: Path, port: int,
               on_mail: Callable[[EmailMessage], None] | None = None) -> Controller:
    controller = Controller(EmlFolder(folder, on_mail), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
