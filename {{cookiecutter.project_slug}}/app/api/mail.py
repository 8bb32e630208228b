"""The `Mail` dependency: how an endpoint's service hands over the emails it writes.
{%- if cookiecutter.jobs == "queue" %}

Each message becomes a task in the outbox, in the service's transaction: it is sent by the
worker if and only if the change commits, and retried there when the mail server fails.
{%- else %}

Each message is sent after the response has gone out, by this process. If the request fails
nothing is sent; if the process stops first, or the mail server refuses the message, it is
lost (and the failure logged): choose the task queue option where that matters.
{%- endif %}
"""

{%- if cookiecutter.jobs == "queue" %}

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import email
from app.services import tasks


class Outbox:
    """Writes each message to the task outbox, on the caller's connection."""

    async def send(self, connection: AsyncConnection, message: email.Message) -> None:
        await tasks.enqueue(connection, email.SEND_TASK, message.to_payload())


_OUTBOX = Outbox()


def _mailer() -> email.Mailer:
    return _OUTBOX
{%- else %}

import logging
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core import email
from app.core.config import Settings

logger = logging.getLogger(__name__)


class AfterResponse:
    """Sends each message once the response is out (FastAPI's background tasks run only
    after a response the endpoint returned, never after an error)."""

    def __init__(self, background: BackgroundTasks, settings: Settings) -> None:
        self._background = background
        self._settings = settings

    async def send(self, connection: AsyncConnection, message: email.Message) -> None:
        self._background.add_task(_deliver, self._settings, message)


async def _deliver(settings: Settings, message: email.Message) -> None:
    try:
        await email.deliver(settings, message)
    except Exception:  # the response is long gone: all that is left is to say so
        logger.exception("email %r to %s was not sent", message.subject, message.to)


def _mailer(request: Request, background: BackgroundTasks) -> email.Mailer:
    return AfterResponse(background, request.state.settings)
{%- endif %}


Mail = Annotated[email.Mailer, Depends(_mailer)]
