"""Benchmark a generated variant against the reference service (`python3 dev.py bench`).

Renders the variant, installs it and the reference service in virtual environments of their
own, seeds a fresh database (one user or API key, 10,000 items), serves both as one uvicorn
worker on CPU 0, drives each scenario with wrk from CPU 1, alternating between the services,
and writes the medians to bench/results.json and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shlex
import signal
import sys
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report
from bench.load import STEPS, Load, Scenario
from bench.projects import (
    BENCH,
    CREDENTIAL,
    REFERENCE,
    ROOT,
    WORK,
    BenchError,
    Project,
    ensure_wrk,
    reference_environment,
)
from bench.servers import CLIENT_CPU, SERVER_CPU, Server

ITEMS = 10_000
# The reference has one way to authenticate per auth variant: jwt_and_api_key is driven
# with bearer tokens, as its users sign in.
REFERENCE_AUTH = {"jwt": "jwt", "jwt_and_api_key": "jwt", "api_key": "api_key", "none": "none"}
ACCESS_TOKEN_MINUTES = "1440"  # the longest the service allows: no token expires mid-run
REDIS_URL = "redis://127.0.0.1:6379/15"  # emptied before each run (cache=redis only)
UNLIMITED = "1000000/second"
_STATISTICS_LAG = 11  # seconds: PostgreSQL publishes an idle backend's counts within 10 s
QUICK = {"warmup": 1, "duration": 3, "long_duration": 5, "repeats": 1}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    options = json.loads((ROOT / "cookiecutter.json").read_text())
    parser = argparse.ArgumentParser(
        prog="python3 dev.py bench", description=__doc__.split("\n\n")[1].replace("\n", " ")
    )
    parser.add_argument("--database", choices=options["database"], default="postgresql")
    parser.add_argument("--auth", choices=options["auth"], default="jwt")
    parser.add_argument("--cache", choices=options["cache"], default=options["cache"][0])
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another template answer, e.g. websockets=yes (repeatable)",
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated scenarios to run, e.g. W2,W3 or W2@64 (default: all)",
    )
    parser.add_argument(
        "--db-transactions",
        action="store_true",
        help="count the database's transactions per request (PostgreSQL; ~22 s more per run)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds before measuring (2)")
    parser.add_argument("--duration", type=int, default=8, help="seconds measured (8)")
    parser.add_argument(
        "--long-duration", type=int, default=30, help="seconds measured for W5/W6 (30)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario and service")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds per scenario, once: for trying changes, not for keeping",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="folder for results.json and RESULTS.md (bench/, or bench/.work/ with --quick)",
    )
    args = parser.parse_args(argv)
    args.options = {}
    for option in args.option:
        name, _, value = option.partition("=")
        allowed = options.get(name)
        if name in {"database", "auth", "cache"}:
            parser.error(f"--option {option}: give {name} with --{name}")
        if not isinstance(allowed, list):
            parser.error(f"--option {option}: the template has no option {name!r}")
        if value not in allowed:
            parser.error(f"--option {option}: {name} is one of {', '.join(allowed)}")
        args.options[name] = value
    if args.quick:
        vars(args).update(QUICK)
    if args.output is None:  # quick numbers never replace the kept ones by accident
        args.output = WORK if args.quick else BENCH
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_arguments(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # so that cleanup runs, as on Ctrl+C
    signal.signal(signal.SIGHUP, _exit_on_signal)
    try:
        Benchmark(args, shlex.join(["python3", "dev.py", "bench", *argv])).run()
    except BenchError as error:
        print(f"\nbench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted; every server it started is stopped", file=sys.stderr)
        return 130
    return 0


def _exit_on_signal(number: int, _: FrameType | None) -> None:
    raise SystemExit(128 + number)


class Benchmark:
    def __init__(self, args: argparse.Namespace, command: str) -> None:
        self.args = args
        self.command = command
        self.database_name = f"bench_{args.auth}"
        self.secret_key = secrets.token_urlsafe(48)
        self.password = secrets.token_urlsafe(18)
        self.ids_file = WORK / "item-ids.txt"
        if args.auth not in REFERENCE_AUTH:
            raise BenchError(f"the reference service has no counterpart of auth={args.auth}")
        self.credential = CREDENTIAL[args.auth]

    def run(self) -> None:
        started, load_before = time.monotonic(), os.getloadavg()[0]
        if (os.cpu_count() or 1) < 2:
            raise BenchError("the benchmark needs 2 CPUs: one for the server, one for wrk")
        wrk = ensure_wrk()
        WORK.mkdir(parents=True, exist_ok=True)
        self.ids_file.write_text("".join(f"{uuid.uuid4()}\n" for _ in range(ITEMS)))
        reference_venv = reference_environment()
        project = Project.prepare(
            self.args.database, self.args.auth, self.args.cache, self.args.options
        )
        # The reference runs on PostgreSQL: a variant on another database gets a PostgreSQL twin.
        twin = project
        if project.database != "postgresql":
            twin = Project.prepare("postgresql", self.args.auth, self.args.cache, self.args.options)
        if self.args.db_transactions and project.database != "postgresql":
            raise BenchError("--db-transactions reads PostgreSQL's statistics: use PostgreSQL")
        self.project = project
        if self.args.cache == "redis":
            project.empty_redis(REDIS_URL)

        with contextlib.ExitStack() as cleanup:
            env = self._service_env(project)
            facts = self._fresh_database(project, env, cleanup)
            twin_facts = (
                facts
                if twin is project
                else self._fresh_database(twin, self._service_env(twin), cleanup)
            )
            generated = Server(
                "generated",
                "app.main:create_app",
                project.environment.executable("uvicorn"),
                cwd=project.path,
                env=env,
                log=WORK / "logs" / "generated.log",
            )
            reference = Server(
                "reference",
                "server:create_app",
                reference_venv.executable("uvicorn"),
                cwd=REFERENCE,
                env=self._reference_env(twin_facts),
                log=WORK / "logs" / "reference.log",
                extra_arguments=["--app-dir", str(REFERENCE)],
            )
            services: list[tuple[Server, Load]] = []
            for server, seeded in ((generated, facts), (reference, twin_facts)):
                cleanup.callback(server.stop)
                server.start()
                services.append((server, self._load(server, seeded)))
            measurements = self._measure(wrk, services)
            log_lines = {server.name: _logged(server.log) for server, _ in services}

        scenarios = [scenario for step in self._steps() for scenario in step]
        rows = report.summarize(scenarios, measurements)
        about = self._about(project, reference_venv.versions(), log_lines, started)
        about["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
        self.args.output.mkdir(parents=True, exist_ok=True)
        report.write_json(self.args.output / "results.json", about, rows, measurements)
        report.write_markdown(self.args.output / "RESULTS.md", about, rows)
        print(f"\nwrote {self.args.output / 'RESULTS.md'} in {about['wall_seconds'] / 60:.1f} min")

    # -- setting up ------------------------------------------------------------------------

    def _service_env(self, project: Project) -> dict[str, str]:
        """The generated service's environment: the caller's, plus what a production run needs.

        Settings not named here keep their defaults, whatever fields the service grows.
        """
        return {
            **os.environ,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": project.database_url(self.database_name),
            "ACCESS_TOKEN_MINUTES": ACCESS_TOKEN_MINUTES,
            "REDIS_URL": REDIS_URL,
            # One wrk client is one address: its budgets must not be what is measured. The
            # limits are still counted on every request.
            "RATE_LIMIT_CLIENT": UNLIMITED,
            "RATE_LIMIT_SIGN_IN_CLIENT": UNLIMITED,
        }

    def _reference_env(self, facts: dict[str, Any]) -> dict[str, str]:
        settings = {
            "REFERENCE_DSN": f"postgresql://postgres@127.0.0.1:5432/{self.database_name}",
            "REFERENCE_AUTH": REFERENCE_AUTH[self.args.auth],
            "SECRET_KEY": self.secret_key,
            "JWT_ISSUER": facts["jwt_issuer"],
            "JWT_AUDIENCE": facts["jwt_audience"],
            "ACCESS_TOKEN_MINUTES": ACCESS_TOKEN_MINUTES,
            "REFRESH_TOKEN_DAYS": facts["refresh_token_days"],
            "POOL_SIZE": facts["pool_size"],  # the same pool as the generated service's
            "HASH_THREADS": facts["hash_threads"],
        }
        given = {name: str(value) for name, value in settings.items() if value is not None}
        return {**os.environ, **given}

    def _fresh_database(
        self, project: Project, env: dict[str, str], cleanup: contextlib.ExitStack
    ) -> dict[str, Any]:
        print(
            f"+ creating and seeding {project.database} database {self.database_name}", flush=True
        )
        project.create_database(self.database_name, env)
        cleanup.callback(project.drop_database, self.database_name, env)
        return project.seed(env, self.ids_file, self.password)

    def _load(self, server: Server, facts: dict[str, Any]) -> Load:
        headers = {}
        if self.credential == "user":
            headers["Authorization"] = f"Bearer {server.sign_in(facts['email'], self.password)}"
        elif self.credential == "key":
            headers["X-API-Key"] = facts["api_key"]
        form = urllib.parse.urlencode({"username": facts.get("email"), "password": self.password})
        return Load(server.url, headers, form, self.ids_file)

    def _steps(self) -> list[tuple[Scenario, ...]]:
        """Sign-in steps need users: they are left out of variants without them."""
        steps = STEPS
        if self.credential != "user":
            steps = [step for step in steps if not any(scenario.signs_in for scenario in step)]
        if self.args.scenarios:
            wanted = set(self.args.scenarios.split(","))
            steps = [
                step
                for step in steps
                if any({scenario.key, scenario.name} & wanted for scenario in step)
            ]
        return steps

    # -- measuring -------------------------------------------------------------------------

    def _measure(self, wrk: str, services: list[tuple[Server, Load]]) -> list[report.Measurement]:
        """Every step on every service, alternating services, `repeats` times over."""
        measurements = []
        for repeat in range(1, self.args.repeats + 1):
            for step in self._steps():
                for server, load in services:
                    for measured in self._run_step(wrk, server, load, step, repeat):
                        print(_progress(measured, self.args.repeats), flush=True)
                        measurements.append(measured)
        return measurements

    def _run_step(
        self, wrk: str, server: Server, load: Load, step: tuple[Scenario, ...], repeat: int
    ) -> list[report.Measurement]:
        """Warm up, then measure the step's scenarios (run at once) and the server's CPU."""
        seconds = self.args.long_duration if len(step) > 1 else self.args.duration
        load.drive(wrk, step, self.args.warmup)
        counting = self.args.db_transactions and server.name == "generated" and len(step) == 1
        if counting:
            time.sleep(_STATISTICS_LAG)
            committed_before = self.project.committed_transactions(self.database_name)
        cpu_before = server.cpu_seconds()
        outcomes = load.drive(wrk, step, seconds)
        cpu = server.cpu_seconds() - cpu_before
        transactions = None
        if counting and outcomes[0].requests:
            time.sleep(_STATISTICS_LAG)
            committed = self.project.committed_transactions(self.database_name) - committed_before
            transactions = committed / outcomes[0].requests
        peak_rss = server.peak_rss_mib()
        measured = []
        for scenario, outcome in zip(step, outcomes, strict=True):
            # Scenarios that ran at once share the CPU: no per-request figure for them.
            per_request = (
                cpu / outcome.requests * 1e6 if len(step) == 1 and outcome.requests else None
            )
            measured.append(
                report.Measurement(
                    scenario=scenario.name,
                    service=server.name,
                    repeat=repeat,
                    requests_per_second=outcome.per_second,
                    p50_ms=outcome.p50_ms,
                    p95_ms=outcome.p95_ms,
                    p99_ms=outcome.p99_ms,
                    cpu_us_per_request=per_request,
                    cpu_percent=cpu / outcome.seconds * 100,
                    non_2xx=outcome.non_2xx,
                    socket_errors=outcome.socket_errors,
                    statuses=outcome.statuses,
                    peak_rss_mib=peak_rss,
                    db_transactions_per_request=transactions,
                )
            )
        return measured

    def _about(
        self,
        project: Project,
        reference_versions: dict[str, str],
        log_lines: dict[str, dict[str, Any]],
        started: float,
    ) -> dict[str, Any]:
        if self.args.database == "postgresql":
            note = "both services use the same PostgreSQL database."
        else:
            note = (
                f"the generated service runs on {self.args.database}, the reference on "
                "PostgreSQL: **the ratio crosses databases**."
            )
        return {
            "command": self.command,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": round(time.monotonic() - started, 1),
            "database": self.args.database,
            "auth": self.args.auth,
            "cache": self.args.cache,
            "options": self.args.options,
            "database_note": note,
            "items": ITEMS,
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "server_cpu": SERVER_CPU,
            "client_cpu": CLIENT_CPU,
            "warmup_seconds": self.args.warmup,
            "seconds": self.args.duration,
            "long_seconds": self.args.long_duration,
            "repeats": self.args.repeats,
            "python": platform.python_version(),
            "versions": {
                "generated": project.environment.versions(),
                "reference": reference_versions,
            },
            "log_lines": log_lines,
        }


def _progress(measured: report.Measurement, repeats: int) -> str:
    cpu = measured.cpu_us_per_request
    return (
        f"[{measured.repeat}/{repeats}] {measured.scenario:<7} {measured.service:<9} "
        f"{measured.requests_per_second:>9,.0f} req/s  p50 {measured.p50_ms:7.2f} ms  "
        f"p99 {measured.p99_ms:7.2f} ms  "
        + (f"{cpu:6.0f} µs CPU/req  " if cpu is not None else " " * 18)
        + f"non-2xx {measured.non_2xx}"
        + (f"  socket errors {measured.socket_errors}" if measured.socket_errors else "")
    )


def _logged(log: Path, examples: int = 12) -> dict[str, Any]:
    """How many lines a server logged (at WARNING and above), and the first distinct ones.

    JSON lines are shown without their time and request id, so that repeats collapse.
    """
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    distinct: list[str] = []
    for line in lines:
        try:
            record = json.loads(line)
            shown = f"{record['level']} {record['logger']}: {record['message']}"
        except (ValueError, TypeError, KeyError):
            shown = line.strip()
        shown = shown[:200]
        if shown and shown not in distinct and len(distinct) < examples:
            distinct.append(shown)
    return {"count": len(lines), "examples": distinct}


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"
