"""The services under test: one uvicorn worker each, pinned to one CPU, watched through /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.projects import BenchError

SERVER_CPU = "0"
CLIENT_CPU = "1"
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_STARTUP_SECONDS = 60.0
_STOP_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One service: `uvicorn ... --factory` on the loopback address, logging to `log`."""

    name: str
    app: str  # the uvicorn factory, "module:function"
    uvicorn: Path
    cwd: Path
    env: dict[str, str]
    log: Path
    extra_arguments: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the worker and wait until it answers its liveness probe."""
        command = [
            "taskset", "-c", SERVER_CPU,
            str(self.uvicorn), self.app, "--factory", *self.extra_arguments,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl+C reaches the bench, which stops it in order
            )
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the {self.name} service exited at startup:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/live", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchError(f"the {self.name} service did not come up:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ask the worker to finish (SIGTERM), and kill it if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the worker so far, all its threads together."""
        stat = self._proc("stat")
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / _TICKS_PER_SECOND

    def peak_rss_mib(self) -> float:
        """The worker's peak resident memory so far (VmHWM)."""
        for line in self._proc("status").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmHWM in /proc/{self.pid}/status")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"the {self.name} service is not running")
        return self.process.pid

    def _proc(self, name: str) -> str:
        try:
            return Path(f"/proc/{self.pid}/{name}").read_text()
        except FileNotFoundError:
            raise BenchError(f"the {self.name} service died:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def sign_in(self, email: str, password: str) -> str:
        """An access token from the service's own sign-in endpoint."""
        form = urllib.parse.urlencode({"username": email, "password": password}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/auth/token", data=form)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                token: str = json.load(response)["access_token"]
                return token
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise BenchError(f"sign-in on the {self.name} service: {error.code} {detail}") from None
