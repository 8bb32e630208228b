"""Time from a committed change to its webhook delivery and to its websocket frame.

Run inside the template's environment (created by `python3 dev.py test`):

    .venv/bin/python -m bench.event_latency [--changes 200] [--option jobs=queue ...]

It renders a project with webhooks and websockets (PostgreSQL, JWT, cache=redis unless
options say otherwise), migrates a fresh database, serves it with uvicorn as one worker (and
runs its queue worker with jobs=queue), registers a webhook endpoint on a receiver this
script runs on loopback, holds a websocket open, then creates items one at a time. For each
item it notes when the `POST` was sent and when its answer came (the change had committed by
then), and when the webhook and the websocket frame for it arrived. It prints the medians,
95th percentiles and maxima of both, from the answer and from the send.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from cookiecutter.main import cookiecutter
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {"database": "postgresql", "auth": "jwt", "cache": "redis"}
DATABASE = "bench_events"
REDIS_URL = "redis://127.0.0.1:6379/14"
EMAIL = "bench@example.com"
WAIT = 30.0  # seconds for the last delivery to arrive before giving up


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.event_latency", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--changes", type=int, default=200, help="items created (200)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between changes (0.02)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template option to render with, e.g. jobs=queue (repeatable)",
    )
    args = parser.parse_args(argv)
    choices = json.loads((ROOT / "cookiecutter.json").read_text())
    args.context = {**DEFAULTS, "webhooks": "yes", "websockets": "yes"}
    for option in args.option:
        name, _, value = option.partition("=")
        allowed = choices.get(name)
        if not isinstance(allowed, list) or value not in allowed:
            parser.error(f"--option {option}: {name} takes one of {allowed}")
        args.context[name] = value
    if args.context["auth"] not in {"jwt", "jwt_and_api_key"}:
        parser.error("--option auth=...: the measurement signs in, so it needs a JWT variant")
    if args.context["database"] != "postgresql":
        parser.error("--option database=...: the measurement runs on PostgreSQL")
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    """A bare HTTP receiver on loopback: notes when each item's webhook arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.port = free_port()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                arrived = time.monotonic()
                event = json.loads(body)
                if event["type"] == "item.created":
                    self.arrived.setdefault(event["data"]["id"], arrived)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        async with server:
            yield


def render(context: dict[str, str], into: Path) -> Path:
    print(f"+ rendering {' '.join(f'{k}={v}' for k, v in context.items())}", flush=True)
    return Path(
        cookiecutter(
            str(ROOT),
            no_input=True,
            extra_context={"project_name": "bench events", **context},
            output_dir=str(into),
            default_config=True,
        )
    )


def service_env(project: Path, receiver: Receiver) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(project),
        "ENVIRONMENT": "development",  # the receiver speaks plain http
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "WEBHOOK_ALLOWED_HOSTS": json.dumps([f"127.0.0.1:{receiver.port}", "127.0.0.1"]),
        "WEBHOOK_POLL_INTERVAL": "1.0",
        "RATE_LIMIT_CLIENT": "1000000/second",
        "RATE_LIMIT_SIGN_IN_CLIENT": "1000000/second",
    }


def prepare_database(project: Path, env: dict[str, str], password: str) -> None:
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], check=True)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=project, env=env, check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from app.cli import main; sys.exit(main())",
            "create-superuser",
            "--email",
            EMAIL,
        ],
        cwd=project,
        env=env,
        input=password + "\n",
        text=True,
        check=True,
    )


def quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   "
        f"max {ordered[-1] * 1000:7.2f} ms"
    )


async def measure(args: argparse.Namespace, base: str, receiver: Receiver, password: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        signed_in = await http.post(
            "/api/v1/auth/token", data={"username": EMAIL, "password": password}
        )
        signed_in.raise_for_status()
        token = signed_in.json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        hook = await http.post(
            "/api/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "event_types": ["item.created"],
            },
        )
        hook.raise_for_status()
        framed: dict[str, float] = {}
        websocket_url = base.replace("http://", "ws://") + "/api/v1/events/ws"
        async with connect(websocket_url, ping_interval=None) as websocket:
            await websocket.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await websocket.recv())["type"] == "ready"

            async def listen() -> None:
                async for frame in websocket:
                    arrived = time.monotonic()
                    event = json.loads(frame)
                    if event.get("type") == "item.created":
                        framed.setdefault(event["data"]["id"], arrived)

            listening = asyncio.create_task(listen())
            sent: dict[str, tuple[float, float]] = {}
            for number in range(args.changes):
                started = time.monotonic()
                created = await http.post("/api/v1/items", json={"title": f"change {number}"})
                answered = time.monotonic()
                created.raise_for_status()
                sent[created.json()["id"]] = (started, answered)
                await asyncio.sleep(args.gap)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and (
                len(framed) < len(sent) or len(receiver.arrived) < len(sent)
            ):
                await asyncio.sleep(0.05)
            listening.cancel()
    report(sent, framed, receiver.arrived)


def report(
    sent: dict[str, tuple[float, float]], framed: dict[str, float], hooked: dict[str, float]
) -> None:
    print(f"\n{len(sent)} changes; {len(hooked)} webhooks and {len(framed)} frames arrived")
    for name, arrivals in (("webhook", hooked), ("websocket", framed)):
        got = [item for item in sent if item in arrivals]
        if not got:
            print(f"{name:<9}: nothing arrived")
            continue
        from_answer = [arrivals[item] - sent[item][1] for item in got]
        from_send = [arrivals[item] - sent[item][0] for item in got]
        print(f"{name:<9} after the answer: {quantiles(from_answer)}")
        print(f"{name:<9} after the send:   {quantiles(from_send)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    receiver = Receiver()
    password = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="event-latency-") as work:
        project = render(args.context, Path(work))
        env = service_env(project, receiver)
        subprocess.run(["redis-cli", "-u", REDIS_URL, "FLUSHDB"], check=True, capture_output=True)
        prepare_database(project, env, password)
        port = free_port()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:create_app",
                    "--factory",
                    "--port",
                    str(port),
                    "--no-access-log",
                ],
                cwd=project,
                env=env,
            )
        ]
        if args.context.get("jobs") == "queue":
            worker = [
                sys.executable,
                "-c",
                "import sys; from app.worker import main; sys.exit(main())",
            ]
            processes.append(subprocess.Popen([*worker, "run"], cwd=project, env=env))
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/health/ready").status_code == 200:
                        break
                time.sleep(0.2)
            else:
                raise SystemExit("the service did not become ready")

            async def run() -> None:
                async with receiver.running():
                    await measure(args, base, receiver, password)

            asyncio.run(run())
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            subprocess.run(
                [
                    "psql",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-c",
                    f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
                ],
                check=False,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
