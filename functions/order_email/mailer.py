"""Sending one plain-text email through the SMTP server named by `ORDER_EMAIL_SMTP_URL`."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class SmtpMailer:
    """`smtp://[user:password@]host[:port]` (STARTTLS when the server offers it, port 25 by
    default) or `smtps://...` (TLS from the start, port 465)."""

    url: str
    timeout: float = 10.0

    def send(self, *, subject: str, body: str, from_email: str, to: str, message_id: str) -> None:
        """Raises OSError or smtplib.SMTPException when the server does not take the message."""
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = from_email
        message["To"] = to
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        message.set_content(body)
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        if parts.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=self.timeout)
        elif parts.scheme == "smtp":
            smtp = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout)
        else:
            raise ValueError(f"ORDER_EMAIL_SMTP_URL: unsupported scheme {parts.scheme!r}")
        with smtp:
            if parts.scheme == "smtp":
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
