"""Medians of the repeated measurements, written as results.json and RESULTS.md."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load import Scenario

SERVICES = ("generated", "reference")


@dataclass(frozen=True)
class Measurement:
    """One scenario, run once against one service."""

    scenario: str
    service: str
    repeat: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_us_per_request: float | None  # None when scenarios ran at once (W5 and W6)
    cpu_percent: float  # of one core, over the whole step
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    peak_rss_mib: float
    # Transactions the database committed per request (PostgreSQL, with --db-transactions):
    # in autocommit one per statement, so it shows how often a cached read skipped its query.
    db_transactions_per_request: float | None = None


_MEDIAN_FIELDS = (
    "requests_per_second",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cpu_us_per_request",
    "cpu_percent",
    "non_2xx",
    "socket_errors",
    "peak_rss_mib",
    "db_transactions_per_request",
)


def medians(measurements: list[Measurement]) -> dict[str, float | None]:
    summary: dict[str, float | None] = {}
    for name in _MEDIAN_FIELDS:
        values = [getattr(m, name) for m in measurements if getattr(m, name) is not None]
        summary[name] = statistics.median(values) if values else None
    return summary


def summarize(scenarios: list[Scenario], measurements: list[Measurement]) -> list[dict[str, Any]]:
    """Per scenario: the request, and each service's medians; the generated/reference ratio."""
    rows = []
    for scenario in scenarios:
        row: dict[str, Any] = {
            "scenario": scenario.name,
            "request": scenario.request,
            "connections": scenario.connections,
        }
        for service in SERVICES:
            runs = [m for m in measurements if (m.scenario, m.service) == (scenario.name, service)]
            row[service] = medians(runs)
        row["ratio"] = _ratio(
            row["generated"]["requests_per_second"], row["reference"]["requests_per_second"]
        )
        # What the ratio would be with the core to itself: reference CPU over generated CPU.
        row["cpu_ratio"] = _ratio(
            row["reference"]["cpu_us_per_request"], row["generated"]["cpu_us_per_request"]
        )
        rows.append(row)
    return rows


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def write_json(
    path: Path, about: dict[str, Any], rows: list[dict[str, Any]], measurements: list[Measurement]
) -> None:
    document = {**about, "scenarios": rows, "runs": [asdict(m) for m in measurements]}
    path.write_text(json.dumps(document, indent=2) + "\n")


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pair(row: dict[str, Any], name: str, digits: int) -> str:
    return " / ".join(_number(row[service][name], digits) for service in SERVICES)


def write_markdown(path: Path, about: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"`{about['command']}` on {about['date']}, {about['wall_seconds'] / 60:.1f} minutes.",
        "",
        f"- Variant: `database={about['database']} auth={about['auth']} cache={about['cache']}"
        + "".join(f" {name}={value}" for name, value in about.get("options", {}).items())
        + "`; "
        f"{about['database_note']}",
        f"- Machine: {about['cpus']} CPUs ({about['cpu_model']}); each service is one uvicorn "
        f"worker on CPU {about['server_cpu']}, wrk runs on CPU {about['client_cpu']}. Load "
        f"average {about['load_average']['before']:.1f} before the run, "
        f"{about['load_average']['after']:.1f} after (other work on the machine skews the "
        "numbers: see the CPU % column, the server's share of its core).",
        f"- Each scenario: {about['warmup_seconds']} s warm-up, then {about['seconds']} s measured "
        f"({about['long_seconds']} s for W5/W6), {about['repeats']} times per service, "
        "alternating services; the numbers are medians.",
        "",
        "Cells with two numbers read generated / reference. Ratio = generated req/s ÷ reference "
        "req/s; by CPU = reference CPU per request ÷ generated CPU per request, the ratio the "
        "two would reach with the core to themselves (steadier when the machine is busy).",
        "",
        "| scenario | request | req/s generated | req/s reference | ratio | by CPU "
        "| p50 ms | p95 ms | p99 ms | CPU µs/request | CPU % | non-2xx | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    counted = [row for row in rows if row["generated"]["db_transactions_per_request"] is not None]
    if counted:
        lines[-2] = lines[-2].replace("| peak RSS MiB |", "| peak RSS MiB | DB tx/request |")
        lines[-1] += "--:|"
    for row in rows:
        ratios = [_number(row["ratio"], 2), _number(row["cpu_ratio"], 2)]
        rates = [row[service]["requests_per_second"] for service in SERVICES]
        lines.append(
            f"| {row['scenario']} | `{row['request']}` | {rates[0]:,.0f} | {rates[1]:,.0f} | "
            f"{ratios[0]} | {ratios[1]} | {_pair(row, 'p50_ms', 2)} | {_pair(row, 'p95_ms', 2)} | "
            f"{_pair(row, 'p99_ms', 2)} | {_pair(row, 'cpu_us_per_request', 0)} | "
            f"{_pair(row, 'cpu_percent', 0)} | {_pair(row, 'non_2xx', 0)} | "
            f"{_pair(row, 'peak_rss_mib', 0)} |"
            + (f" {_pair(row, 'db_transactions_per_request', 2)} |" if counted else "")
        )
    lines += ["", f"## Package versions (Python {about['python']})", ""]
    for service in SERVICES:
        installed = about["versions"][service].items()
        lines.append(
            f"- {service}: " + ", ".join(f"{name} {version}" for name, version in installed)
        )
    lines += ["", "## What the servers logged (WARNING and above)", ""]
    for service in SERVICES:
        logged = about["log_lines"][service]
        lines.append(f"- {service}: {logged['count']} lines" + (":" if logged["examples"] else ""))
        lines += ["  - `" + line.replace("`", "'") + "`" for line in logged["examples"]]
    path.write_text("\n".join(lines) + "\n")
