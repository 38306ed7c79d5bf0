"""Outgoing mail: .eml files without SMTP, SMTP (STARTTLS / TLS) when configured."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import stat
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest

from burgerbegroting import mail
from burgerbegroting.settings import Settings

LINK = "https://begroting.example.nl/bevestigen?token=" + "a" * 300


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(env="test", var_dir=tmp_path / "var", **kw)


async def test_without_smtp_mail_is_written_as_eml_and_logged_without_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    caplog.set_level(logging.INFO, logger="burgerbegroting.mail")
    await mail.send_mail(
        settings,
        to="inwoner@example.nl",
        subject="Bevestig uw e-mailadres",
        body=f"Hallo é\n{LINK}\n",
    )
    files = list(settings.mail_dir.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "inwoner@example.nl"
    assert message["From"] == settings.mail_from
    body = message.get_body(("plain",))
    assert body is not None
    assert LINK in body.get_content()
    assert LINK in files[0].read_text(encoding="utf-8")  # on one line, readable as is
    assert "inwoner@example.nl" in caplog.text
    assert "Bevestig uw e-mailadres" in caplog.text
    assert "token=" not in caplog.text


@pytest.mark.parametrize(
    ("to", "subject"),
    [("a@example.nl\nBcc: b@example.nl", "Onderwerp"), ("a@example.nl", "Hoi\r\nBcc: x@y.nl")],
)
async def test_header_injection_is_refused(tmp_path: Path, to: str, subject: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        await mail.send_mail(_settings(tmp_path), to=to, subject=subject, body="x")


class FakeSMTP:
    instances: ClassVar[list[FakeSMTP]] = []

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        self.host, self.port, self.kwargs = host, port, kwargs
        self.tls = "context" in kwargs  # SMTP_SSL gets a context at connect time
        self.started_tls = False
        self.logged_in: tuple[str, str] | None = None
        self.sent: list[EmailMessage] = []
        FakeSMTP.instances.append(self)

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def ehlo(self) -> None:
        return None

    def has_extn(self, name: str) -> bool:
        return name == "starttls"

    def starttls(self, context: Any = None) -> None:
        self.started_tls = True

    def login(self, user: str, password: str) -> None:
        self.logged_in = (user, password)

    def send_message(self, message: EmailMessage) -> None:
        self.sent.append(message)


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSMTP]:
    FakeSMTP.instances = []
    monkeypatch.setattr("burgerbegroting.mail.smtplib.SMTP", FakeSMTP)
    monkeypatch.setattr("burgerbegroting.mail.smtplib.SMTP_SSL", FakeSMTP)
    return FakeSMTP


async def test_smtp_url_uses_starttls_and_decoded_credentials(
    tmp_path: Path, fake_smtp: type[FakeSMTP]
) -> None:
    settings = _settings(tmp_path, smtp_url="smtp://gebruiker:ge%40heim@mail.example.nl:2525")
    await mail.send_mail(settings, to="a@example.nl", subject="Test", body="Hallo")
    (client,) = fake_smtp.instances
    assert (client.host, client.port) == ("mail.example.nl", 2525)
    assert client.started_tls
    assert client.logged_in == ("gebruiker", "ge@heim")
    assert client.sent[0]["To"] == "a@example.nl"
    assert not settings.mail_dir.exists()  # nothing written to disk


async def test_smtps_url_uses_tls_from_the_start(tmp_path: Path, fake_smtp: type[FakeSMTP]) -> None:
    settings = _settings(tmp_path, smtp_url="smtps://mail.example.nl")
    await mail.send_mail(settings, to="a@example.nl", subject="Test", body="Hallo")
    (client,) = fake_smtp.instances
    assert client.port == 465
    assert client.tls
    assert not client.started_tls
    assert client.logged_in is None


async def test_unusable_smtp_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(mail.MailConfigError):
        await mail.send_mail(
            _settings(tmp_path, smtp_url="http://mail.example.nl"),
            to="a@example.nl",
            subject="x",
            body="x",
        )


async def test_mail_files_and_their_folder_are_private(tmp_path: Path) -> None:
    """They hold confirmation links and invitation tokens: owner only, whatever the umask."""
    old = os.umask(0o022)
    try:
        settings = _settings(tmp_path)
        await mail.send_mail(settings, to="a@example.nl", subject="Onderwerp", body="geheim")
    finally:
        os.umask(old)
    (path,) = settings.mail_dir.glob("*.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.mail_dir.stat().st_mode) == 0o700
