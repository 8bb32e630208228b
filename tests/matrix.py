"""Which variants the template's tests check, and how deeply: derived from cookiecutter.json.

Three levels, each a list of variants (a dict of option -> chosen value):

- `VARIANTS`: every combination of every choice option, except that two options whose code
  never meets (`INDEPENDENT`) are not combined away from their defaults beyond the pairwise
  set below. Each one renders, and its files, leftovers, config files, `ruff check` and
  `ruff format --check` are checked.
- `CODE_VARIANTS`: those of them with the configuration-only options (the Python version)
  at their default. Each one passes `mypy --strict`, and together they name every
  dependency any variant has.
- `SUITE_VARIANTS`: a pairwise covering set, in which every pair of values of two different
  options appears together in at least one variant, starting with the all-defaults variant.
  The generated projects' own suites and migrations run on these against the real servers.

An option is a key of cookiecutter.json whose value is a list of choices; adding one there
(with its files in `_variant_files`) is all it takes for every level to include it. This
module imports nothing but the standard library, so `dev.py` can use it too.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COOKIECUTTER_JSON: dict[str, Any] = json.loads((ROOT / "cookiecutter.json").read_text())

Variant = dict[str, str]

OPTIONS: dict[str, list[str]] = {
    name: values
    for name, values in COOKIECUTTER_JSON.items()
    if not name.startswith("_") and isinstance(values, list)
}
DEFAULTS: Variant = {name: values[0] for name, values in OPTIONS.items()}
# Options that change configuration only (versions in pyproject.toml, the Docker base image,
# the CI workflow), never which code exists or what it imports.
CONFIG_ONLY_OPTIONS = ("python_version",)
# Pairs of options whose code never meets: no file branches on both at once, so each value
# of one is checked with every combination of the others at the other's default, and the
# two away from their defaults together only in the pairwise set. (The jobs option doubles
# the product; with this, every queue code path is still type-checked with every database
# and auth, and every cache with every database and auth.)
INDEPENDENT = (("cache", "jobs"),)
# Path -> {option: [values that keep the path]}; paths not listed belong to every variant.
VARIANT_FILES: dict[str, dict[str, list[str]]] = COOKIECUTTER_JSON["_variant_files"]


def variant_id(variant: Variant) -> str:
    return "-".join(variant[name] for name in OPTIONS)


def keeps(variant: Variant, path: str) -> bool:
    """Whether a rendered project of this variant has the path (the post-gen hook's rule)."""
    keeping = VARIANT_FILES.get(path, {})
    return all(variant[option] in values for option, values in keeping.items())


Pair = tuple[tuple[str, str], tuple[str, str]]


def pairs_in(variant: Variant, options: dict[str, list[str]]) -> set[Pair]:
    """The value pairs of two different options that one variant covers."""
    return {
        ((first, variant[first]), (second, variant[second]))
        for first, second in itertools.combinations(options, 2)
    }


def all_pairs(options: dict[str, list[str]]) -> set[Pair]:
    return {
        ((first, one), (second, other))
        for first, second in itertools.combinations(options, 2)
        for one in options[first]
        for other in options[second]
    }


def pairwise(options: dict[str, list[str]], start: list[Variant]) -> list[Variant]:
    """A small set of variants covering every pair of values, beginning with `start`.

    Greedy and deterministic: each new variant is grown from every pair not yet covered
    (options with more values filled in first, each with the value that covers the most
    uncovered pairs, earlier values winning ties), and the one covering the most is kept.
    For the five options of today this finds 13 variants, one more than the least possible
    (auth has 4 values, database 3: 12 pairs that no variant can share).
    """
    names = list(options)
    position = {name: index for index, name in enumerate(names)}
    fill_order = sorted(names, key=lambda name: -len(options[name]))
    uncovered = all_pairs(options)
    chosen: list[Variant] = []

    def add(variant: Variant) -> None:
        chosen.append(variant)
        uncovered.difference_update(pairs_in(variant, options))

    def pair(option: str, value: str, other: str, other_value: str) -> Pair:
        if position[option] < position[other]:
            return ((option, value), (other, other_value))
        return ((other, other_value), (option, value))

    def grow(seed: Pair) -> Variant:
        variant = dict(seed)
        for option in fill_order:
            if option not in variant:
                variant[option] = max(
                    options[option],
                    key=lambda value: sum(
                        pair(option, value, other, variant[other]) in uncovered for other in variant
                    ),
                )
        return {name: variant[name] for name in names}

    def seed_order(seed: Pair) -> tuple[int, ...]:
        (first, one), (second, other) = seed
        return (
            position[first],
            options[first].index(one),
            position[second],
            options[second].index(other),
        )

    for variant in start:
        add(variant)
    while uncovered:
        grown = [grow(seed) for seed in sorted(uncovered, key=seed_order)]
        add(max(grown, key=lambda variant: len(pairs_in(variant, options) & uncovered)))
    return chosen


def combined_in_full(variant: Variant) -> bool:
    """Whether no two independent options are both away from their defaults."""
    return all(
        variant[first] == DEFAULTS[first] or variant[second] == DEFAULTS[second]
        for first, second in INDEPENDENT
    )


SUITE_VARIANTS: list[Variant] = pairwise(OPTIONS, start=[DEFAULTS])
VARIANTS: list[Variant] = [
    variant
    for values in itertools.product(*OPTIONS.values())
    for variant in [dict(zip(OPTIONS, values, strict=True))]
    if combined_in_full(variant) or variant in SUITE_VARIANTS
]
CODE_VARIANTS: list[Variant] = [
    variant
    for variant in VARIANTS
    if all(variant[name] == DEFAULTS[name] for name in CONFIG_ONLY_OPTIONS)
]
