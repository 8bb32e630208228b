{%- set queue = cookiecutter.jobs == "queue" -%}
"""Sending webhook deliveries: the address guard, the signature, one bounded attempt.

Every attempt resolves the receiver's host and refuses it if any of its addresses is not a
public one (loopback, private, link-local, shared, multicast, reserved, cloud metadata, or
one of those inside an IPv6 form), unless the host is in WEBHOOK_ALLOWED_HOSTS. It then
connects to the address it vetted, not to the name again (a second lookup could answer
differently), keeping the name for the Host header and TLS. Redirects are not followed:
they would lead past the guard. The answer is read up to WEBHOOK_MAX_RESPONSE_BYTES, and the
whole attempt is bounded by WEBHOOK_TIMEOUT.
{%- if queue %}

Each attempt is a task on the queue (see `app.worker`).
{%- else %}

`Dispatcher` sends from inside the API process: woken when new deliveries commit, looking
for due retries every WEBHOOK_POLL_INTERVAL.
{%- endif %}
"""

import asyncio
{%- if not queue %}
import contextlib
{%- endif %}
import ipaddress
import json
import logging
import socket
import time
{%- if queue %}
import uuid
{%- endif %}
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from app import __version__
from app.core.config import Settings
from app.db.engine import Database
from app.services import webhooks

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(map(ipaddress.ip_address, ("169.254.169.254", "fd00:ec2::254")))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_USER_AGENT = f"{{ cookiecutter.project_slug }}-webhooks/{__version__}"
{%- if not queue %}
_RECORD_SECONDS = 5.0  # granted beyond WEBHOOK_TIMEOUT, at shutdown, to record an attempt
{%- endif %}


class RefusedError(Exception):
    """The target may not be sent to; nothing was sent."""


def forbidden(address: IPAddress) -> bool:
    """Whether `address` is one a webhook must not reach: anything but a public unicast
    address, looking inside the IPv6 forms that carry an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden(embedded)
        if address.teredo is not None:
            return True
    return (
        address in _METADATA
        or not address.is_global
        or address.is_multicast
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


async def vet(settings: Settings, url: str) -> tuple[httpx.URL, str]:
    """The URL to connect to (the host replaced by an address it resolved to) and the name
    it stands for; raises RefusedError when the scheme or any resolved address is not allowed."""
    target = httpx.URL(url)
    if target.scheme != "https" and settings.environment == "production":
        raise RefusedError("only https receivers are sent to in production")
    host = target.host
    addresses = await _resolve(host)
    if host not in settings.webhook_allowed_hosts:
        refused = [str(address) for address in addresses if forbidden(address)]
        if refused:
            raise RefusedError(f"{host} resolves to an address not allowed: {', '.join(refused)}")
    return target.copy_with(host=str(addresses[0])), host


async def _resolve(host: str) -> list[IPAddress]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # an unknown name, or one no DNS label fits
        raise RefusedError(f"cannot resolve {host}: {error}") from None
    # An address with a zone (fe80::1%eth0) is link-local, so refused unless allowed.
    return [ipaddress.ip_address(str(entry[4][0]).partition("%")[0]) for entry in found]


def sign(secret: str, message_id: str, timestamp: datetime, body: str) -> str:
    """The webhook-signature header: "v1," and the base64 HMAC-SHA256 of id.timestamp.body."""
    return Webhook(secret).sign(message_id, timestamp, body)


def new_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client deliveries go out on: no redirects, no proxies from the environment,
    and no connection kept for another request. Requests go to a vetted address, and the pool
    would match a kept connection by address alone, handing one host's connection (checked
    for its name, and perhaps routed by it) to another host on the same address."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=settings.webhook_timeout,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def send(
    client: httpx.AsyncClient, settings: Settings, delivery: webhooks.Claimed
) -> webhooks.Outcome:
    """One attempt at a delivery: never raises, reports how it went."""
    started = time.monotonic()
    status: int | None = None
    answer: str | None = None
    try:
        async with asyncio.timeout(settings.webhook_timeout):
            status, answer = await _post(client, settings, delivery)
    except RefusedError as refusal:
        error: str | None = f"refused: {refusal}"
    except TimeoutError:
        error = f"no answer within {settings.webhook_timeout} s"
    except Exception as failure:  # any other trouble is a failed attempt, never a stuck one
        error = f"{type(failure).__name__}: {failure}"
    else:
        if httpx.codes.is_success(status):
            error = None
        elif httpx.codes.is_redirect(status):
            error = f"redirect to {urlsplit(answer or '').netloc or 'elsewhere'} not followed"
        else:
            error = f"answered {status}"
    return webhooks.Outcome(
        delivered=error is None,
        status_code=status,
        latency_ms=round((time.monotonic() - started) * 1000),
        response_body=_storable(answer),
        error=_storable(error),
    )


def _storable(text: str | None) -> str | None:
    """The text without NUL characters, which no text column takes."""
    return None if text is None else text.replace("\x00", "\ufffd")


async def _post(
    client: httpx.AsyncClient, settings: Settings, delivery: webhooks.Claimed
) -> tuple[int, str]:
    """POST the signed event to the vetted address; the status and the start of the answer
    (for a redirect, where it pointed)."""
    pinned, host = await vet(settings, delivery.url)
    body = json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False)
    now = datetime.now(UTC)
    headers = {
        "host": httpx.URL(delivery.url).netloc.decode("ascii"),
        "user-agent": _USER_AGENT,
        "content-type": "application/json",
        "accept-encoding": "identity",
        "webhook-id": str(delivery.event_id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(delivery.secret, str(delivery.event_id), now, body),
    }
    extensions = {"sni_hostname": host} if pinned.scheme == "https" else {}
    request = client.build_request(
        "POST", pinned, content=body.encode(), headers=headers, extensions=extensions
    )
    response = await client.send(request, stream=True)
    try:
        if response.is_redirect:
            return response.status_code, response.headers.get("location", "")
        kept = bytearray()
        async for chunk in response.aiter_raw():
            kept += chunk
            if len(kept) >= settings.webhook_max_response_bytes:
                break
    finally:
        await response.aclose()
    return response.status_code, kept[: settings.webhook_max_response_bytes].decode(
        "utf-8", "replace"
    )


async def attempt(
    database: Database, settings: Settings, client: httpx.AsyncClient, delivery: webhooks.Claimed
) -> None:
    """Send a claimed delivery once and record how it went."""
    outcome = await send(client, settings, delivery)
    async with database.connect() as connection:
        state = await webhooks.record(connection, settings, delivery, outcome)
    if not outcome.delivered:
        logger.warning(
            "webhook %s to endpoint %s failed on attempt %d, now %s: %s",
            delivery.event_id,
            delivery.endpoint_id,
            delivery.attempt,
            state,
            outcome.error,
        )
{%- if queue %}


async def attempt_by_id(
    database: Database, settings: Settings, client: httpx.AsyncClient, delivery_id: uuid.UUID
) -> None:
    """The queue's task: claim the delivery and send it, unless it is not there to send."""
    async with database.connect() as connection:
        delivery = await webhooks.claim(connection, settings, delivery_id)
        if delivery is None:
            # Held by a sender that may have died (its task lost, or its record failed):
            # look again when its lease ends, or the delivery would never move again.
            await webhooks.look_again_after_lease(connection, delivery_id)
            logger.info("webhook delivery %s is not waiting to be sent now", delivery_id)
            return
    await attempt(database, settings, client, delivery)
{%- else %}


class Dispatcher:
    """Sends due deliveries from this process, at most WEBHOOK_CONCURRENCY at once."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._wake = asyncio.Event()
        self._stopping = False
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Claim and send until `stop`. The deliveries in flight then get WEBHOOK_TIMEOUT, and
        a moment to record how they went, before they are cancelled: a task cancelled in the
        middle of a statement can leave its connection unusable, and a delivery cut off is
        sent again when its lease ends."""
        webhooks.wake_on_commit(self._database.engine.sync_engine, self._wake)
        async with new_client(self._settings) as client:
            try:
                await self._loop(client)
                if self._sending:
                    await asyncio.wait(
                        set(self._sending), timeout=self._settings.webhook_timeout + _RECORD_SECONDS
                    )
            finally:
                for sending in self._sending:
                    sending.cancel()
                await asyncio.gather(*self._sending, return_exceptions=True)

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the deliveries in flight are done."""
        self._stopping = True
        self._wake.set()

    async def _loop(self, client: httpx.AsyncClient) -> None:
        """Look for due deliveries when woken or after each interval, never at once: an app
        stopped right after it started (a test, a failed deploy) is not cut off mid-connect."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.webhook_poll_interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            free = self._settings.webhook_concurrency - len(self._sending)
            if free <= 0:
                continue  # a sender that finishes wakes the loop
            try:
                async with self._database.connect() as connection:
                    claimed = await webhooks.claim_due(connection, self._settings, free)
            except Exception as error:  # the next round tries again
                logger.warning("cannot claim webhook deliveries: %r", error)
                continue
            for delivery in claimed:
                sending = asyncio.create_task(
                    attempt(self._database, self._settings, client, delivery)
                )
                self._sending.add(sending)
                sending.add_done_callback(self._sent)
            if len(claimed) == free:
                self._wake.set()  # a full batch: more may be due

    def _sent(self, sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        self._wake.set()  # a sender is free
        if not sending.cancelled() and sending.exception() is not None:
            logger.warning("webhook attempt not recorded: %r", sending.exception())
{%- endif %}
