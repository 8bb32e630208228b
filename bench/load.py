"""The workloads, and wrk driving them from its own CPU."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.projects import BENCH, BenchError
from bench.servers import CLIENT_CPU

SCRIPT = BENCH / "scenario.lua"
NEW_ITEM = json.dumps({"title": "Benchmark item", "description": "Created under load."})
_TIMEOUT = "10s"  # wrk's default of 2 s would drop the slowest responses from the latencies


@dataclass(frozen=True)
class Scenario:
    """One kind of request sent over `connections` connections; `{id}` is a random item id."""

    key: str
    connections: int
    method: str
    path: str
    body: str | None = None
    content_type: str | None = None
    signs_in: bool = False  # sends a password instead of the caller's credentials

    @property
    def name(self) -> str:
        """Unique within the benchmark, e.g. "W2@64"."""
        return f"{self.key}@{self.connections}"

    @property
    def request(self) -> str:
        return f"{self.method} {self.path}"


HEALTH = Scenario("W1", 64, "GET", "/health/live")
READ_8 = Scenario("W2", 8, "GET", "/api/v1/items/{id}")
READ = Scenario("W2", 64, "GET", "/api/v1/items/{id}")
READ_256 = Scenario("W2", 256, "GET", "/api/v1/items/{id}")
LIST = Scenario("W3", 64, "GET", "/api/v1/items?limit=50")
CREATE = Scenario("W4", 64, "POST", "/api/v1/items", NEW_ITEM, "application/json")
SIGN_IN = Scenario(
    "W5", 4, "POST", "/api/v1/auth/token", content_type="application/x-www-form-urlencoded",
    signs_in=True,
)  # fmt: skip
READ_DURING_SIGN_INS = Scenario("W6", 8, "GET", "/api/v1/items/{id}")

# What runs at once. The last step is long: sign-ins with reads beside them.
STEPS: list[tuple[Scenario, ...]] = [
    (HEALTH,),
    (READ_8,),
    (READ,),
    (READ_256,),
    (LIST,),
    (CREATE,),
    (SIGN_IN, READ_DURING_SIGN_INS),
]


@dataclass(frozen=True)
class Outcome:
    """What wrk measured for one scenario."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    socket_errors: int
    statuses: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))


@dataclass(frozen=True)
class Load:
    """How to reach one service: its URL, the caller's headers, the form that signs in."""

    url: str
    headers: dict[str, str]
    sign_in_form: str
    ids_file: Path

    def drive(self, wrk: str, scenarios: tuple[Scenario, ...], seconds: int) -> list[Outcome]:
        """Run the scenarios at once for `seconds`, one wrk each; their outcomes in order."""
        processes = [self._start(wrk, scenario, seconds) for scenario in scenarios]
        try:
            return [_collect(process, seconds) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()

    def _start(self, wrk: str, scenario: Scenario, seconds: int) -> subprocess.Popen[str]:
        command = [
            "taskset", "-c", CLIENT_CPU, wrk,
            "--threads", "1", "--connections", str(scenario.connections),
            "--duration", f"{seconds}s", "--timeout", _TIMEOUT, "--script", str(SCRIPT),
        ]  # fmt: skip
        if not scenario.signs_in:
            for name, value in self.headers.items():
                command += ["--header", f"{name}: {value}"]
        command += [self.url, "--", f"method={scenario.method}", f"path={scenario.path}"]
        if "{id}" in scenario.path:
            command.append(f"ids={self.ids_file}")
        if scenario.content_type:
            command.append(f"type={scenario.content_type}")
        body = self.sign_in_form if scenario.signs_in else scenario.body
        if body is not None:
            command.append(f"body={body}")
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collect(process: subprocess.Popen[str], seconds: int) -> Outcome:
    """Wait for wrk and read the RESULT line that scenario.lua prints when it is done."""
    stdout, stderr = process.communicate(timeout=seconds + 60)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return Outcome(**json.loads(line.removeprefix("RESULT ")))
    raise BenchError(f"wrk printed no result ({process.returncode}):\n{stdout}{stderr}")
