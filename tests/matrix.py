"""Which variants the template's tests check, and how deeply: derived from cookiecutter.json.

The product of the options is too large to render (each new option multiplies it), so each
level is a covering set, grown greedily by `covering` from the all-defaults variant:

- `RENDER_VARIANTS`: every three values of three different options appear together in at
  least one variant (the template's conditions name one option, a few two or three). Each
  one renders; its files, leftovers, config files, `ruff check` and `ruff format --check`
  are checked.
- `CODE_VARIANTS`: three-wise too, over the options that change code, with the
  configuration-only ones (the Python version) held at their default: they change no code
  and no dependency, and the render set's variants at that default alone meet only every
  pair of the others. Each one passes `mypy --strict`; every value of every option is among
  them, so together they name every dependency any variant has (`dev.py` installs them).
- `SUITE_VARIANTS`: every two values of two different options appear together. The generated
  projects' own suites and migrations run on these against the real servers.

Each level deeper is in the render set too (the render set is grown from them), so every
variant that is type-checked or run has also passed the file checks and the linter.
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
# Path -> {option: [values that keep the path]}; paths not listed belong to every variant.
# Path -> the option values that keep it: one map (every option it names must match), or a
# list of maps (any one of them keeps it).
Keeping = dict[str, list[str]] | list[dict[str, list[str]]]
VARIANT_FILES: dict[str, Keeping] = COOKIECUTTER_JSON["_variant_files"]


def variant_id(variant: Variant) -> str:
    return "-".join(variant[name] for name in OPTIONS)


def keeps(variant: Variant, path: str) -> bool:
    """Whether a rendered project of this variant has the path (the post-gen hook's rule)."""
    keeping = VARIANT_FILES.get(path, {})
    return any(
        all(variant[option] in values for option, values in alternative.items())
        for alternative in alternatives(keeping)
    )


def alternatives(keeping: Keeping) -> list[dict[str, list[str]]]:
    """The maps of option values of which any one keeps a path."""
    return keeping if isinstance(keeping, list) else [keeping]


Group = tuple[str, ...]
Steps = list[tuple[str, list[Group]]]


def covering(options: dict[str, list[str]], strength: int, start: list[Variant]) -> list[Variant]:
    """A small set of variants in which every `strength` values of as many different options
    appear together at least once, beginning with `start`.

    Greedy and deterministic, so the test ids stay put: each new variant is grown from each
    missing combination of the group of options that misses the most (one that needs many
    variants is started early), filling the other options, most values first, each with the
    value that completes the most missing combinations (earlier values winning ties); the one
    completing the most is kept. Seeding from one group only keeps it fast, at about the size
    that seeding from every missing combination finds.
    """
    names = list(options)
    groups = list(itertools.combinations(names, min(strength, len(names))))
    # Per group of options, the value combinations no chosen variant has yet, in value order.
    missing = {
        group: dict.fromkeys(itertools.product(*(options[name] for name in group)))
        for group in groups
    }
    fill_order = sorted(names, key=lambda name: -len(options[name]))
    chosen: list[Variant] = []

    def completes(variant: Variant, among: list[Group]) -> int:
        return sum(tuple(variant[name] for name in group) in missing[group] for group in among)

    def add(variant: Variant) -> None:
        chosen.append(variant)
        for group in groups:
            missing[group].pop(tuple(variant[name] for name in group), None)

    def steps_after(seeded: Group) -> Steps:
        """The options left to fill, in order, each with the groups that filling it completes."""
        steps: Steps = []
        filled = set(seeded)
        for option in fill_order:
            if option not in filled:
                filled.add(option)
                completed = [group for group in groups if option in group and filled >= set(group)]
                steps.append((option, completed))
        return steps

    def grow(seed: Variant, steps: Steps) -> tuple[int, Variant]:
        """The variant grown from a seed, and how many missing combinations it completes."""
        variant = dict(seed)
        completed = 1  # the seed's own
        for option, completable in steps:
            scores = []
            for value in options[option]:
                variant[option] = value
                scores.append(completes(variant, completable))
            best = max(range(len(scores)), key=scores.__getitem__)
            variant[option] = options[option][best]
            completed += scores[best]
        return completed, {name: variant[name] for name in names}

    for variant in start:
        add(variant)
    while True:
        hardest = max(groups, key=lambda group: len(missing[group]))
        if not missing[hardest]:
            return chosen
        steps = steps_after(hardest)
        grown = [grow(dict(zip(hardest, seed, strict=True)), steps) for seed in missing[hardest]]
        add(max(grown, key=lambda candidate: candidate[0])[1])


def levels(options: dict[str, list[str]]) -> tuple[list[Variant], list[Variant], list[Variant]]:
    """The render, code and suite sets of these options (see the module docstring)."""
    defaults = {name: values[0] for name, values in options.items()}
    suite = covering(options, 2, start=[defaults])
    code_options = {
        name: [defaults[name]] if name in CONFIG_ONLY_OPTIONS else values
        for name, values in options.items()
    }
    # Each level is grown from the deeper ones, so that it holds them.
    in_code = [
        variant for variant in suite if all(variant[name] in code_options[name] for name in options)
    ]
    code = covering(code_options, 3, start=in_code)
    render = covering(
        options, 3, start=suite + [variant for variant in code if variant not in suite]
    )
    return render, code, suite


RENDER_VARIANTS, CODE_VARIANTS, SUITE_VARIANTS = levels(OPTIONS)
