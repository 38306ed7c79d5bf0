"""Outgoing mail: SMTP when ``BB_SMTP_URL`` is set, otherwise ``.eml`` files in ``var/mail/``.

``BB_SMTP_URL`` looks like ``smtp://user:password@host:587`` (STARTTLS when the server offers it)
or ``smtps://user:password@host:465`` (TLS from the first byte). Without it, every message is
written to ``settings.mail_dir`` as an ``.eml`` file (plain text, UTF-8, 8bit so links stay on one
line and can be read back by tests and developers) and logged. The log line carries the recipient
and subject only: bodies hold confirmation links, which are secrets.

SMTP is blocking, so it runs in a worker thread.
"""

from __future__ import annotations

import email.policy
import logging
import os
import smtplib
import ssl
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from burgerbegroting.settings import Settings

logger = logging.getLogger("burgerbegroting.mail")

SMTP_TIMEOUT_SECONDS = 30


class MailConfigError(ValueError):
    """``BB_SMTP_URL`` cannot be understood."""


def build_message(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message from ``settings.mail_from`` to ``to``."""
    if "\n" in to or "\r" in to or "\n" in subject or "\r" in subject:
        # Header injection: never let user input add headers.
        raise ValueError("line breaks are not allowed in mail headers")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    message.set_content(body, charset="utf-8", cte="8bit")
    return message


def _write_eml(mail_dir: Path, message: EmailMessage) -> Path:
    # Owner only: the files hold confirmation links and invitation tokens (secrets).
    mail_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = mail_dir / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_suffix(".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(message.as_bytes(policy=email.policy.default))
    # Rename so a reader polling the folder never sees a half-written file.
    tmp.replace(path)
    return path


def _send_smtp(smtp_url: str, message: EmailMessage) -> None:
    parts = urlsplit(smtp_url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise MailConfigError("BB_SMTP_URL must look like smtp://user:pass@host:port or smtps://…")
    context = ssl.create_default_context()
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if parts.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if user is not None:
            client.login(user, password or "")
        client.send_message(message)


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send a plain-text mail (SMTP) or write it to ``settings.mail_dir`` (no SMTP configured)."""
    message = build_message(settings, to=to, subject=subject, body=body)
    if settings.smtp_url:
        smtp_url = settings.smtp_url
        await anyio.to_thread.run_sync(lambda: _send_smtp(smtp_url, message))
        logger.info("mail sent via SMTP to %s: %s", to, subject)
        return
    path = await anyio.to_thread.run_sync(lambda: _write_eml(settings.mail_dir, message))
    logger.info("mail to %s: %s (written to %s)", to, subject, path.name)
