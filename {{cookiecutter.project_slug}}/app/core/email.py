"""Email: messages written from the templates in `app/templates/email/`, sent over SMTP.

With `EMAIL_BACKEND=console` (the default, for development) each message is logged instead
of sent; outside production the log shows the whole text, links included. Services do not
send mail themselves: they hand each message to a `Mailer` inside their transaction, which
{%- if cookiecutter.jobs == "queue" %}
writes it to the task outbox, so that it is sent, by the worker, only if the change commits.
{%- else %}
sends it after the response, so a request never waits for the mail server. That happens in
the serving process: a message is lost if the process stops first, or if the server refuses
it (the failure is logged).
{%- endif %}
"""

import html
import logging
{%- if cookiecutter.jobs == "queue" %}
from dataclasses import asdict, dataclass
{%- else %}
from dataclasses import dataclass
{%- endif %}
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from string import Template
from typing import Protocol

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"
{%- if cookiecutter.jobs == "queue" %}
SEND_TASK = "email.send"  # the name of the task that delivers a message
{%- endif %}


@dataclass(frozen=True, slots=True)
class Message:
    """One email, both bodies rendered."""

    to: str
    subject: str
    text: str
    html: str
{%- if cookiecutter.jobs == "queue" %}

    def to_payload(self) -> dict[str, str]:
        return asdict(self)
{%- endif %}


class Mailer(Protocol):
    """Sends a message once the caller's transaction on `connection` has committed."""

    async def send(self, connection: AsyncConnection, message: Message) -> None: ...


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def write(template: str, to: str, subject: str, **values: str) -> Message:
    """Fill `<template>.txt` and `<template>.html` with the values (escaped in the HTML)."""
    escaped = {name: html.escape(value) for name, value in values.items()}
    return Message(
        to=to,
        subject=subject,
        text=_template(f"{template}.txt").substitute(values),
        html=_template(f"{template}.html").substitute(escaped),
    )


async def deliver(settings: Settings, message: Message) -> None:
    """Send the message now, or log it with the console backend."""
    if settings.email_backend == "console":
        production = settings.environment == "production"
        body = "(body not logged in production)" if production else message.text
        logger.info("email to %s: %s\n%s", message.to, message.subject, body)
        return
    mime = EmailMessage()
    mime["From"] = settings.email_sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    await aiosmtplib.send(
        mime,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout,
    )
