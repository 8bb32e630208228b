"""The variant matrix and the option-to-files map: well-formed, and covering what they claim."""

from __future__ import annotations

import json
import math
from itertools import combinations, product

import pytest

from tests.matrix import (
    CODE_VARIANTS,
    CONFIG_ONLY_OPTIONS,
    COOKIECUTTER_JSON,
    DEFAULTS,
    OPTIONS,
    RENDER_VARIANTS,
    ROOT,
    SUITE_VARIANTS,
    VARIANT_FILES,
    Variant,
    alternatives,
    covering,
    levels,
)

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"

# The options of the template before the event options, and more to come.
FIVE = {name: OPTIONS[name] for name in ("python_version", "database", "auth", "cache", "jobs")}
SOON = {"webhooks": ["no", "yes"], "websockets": ["no", "yes"]}
LATER = {"files": ["none", "local", "s3"], "tracing": ["no", "yes"], "kubernetes": ["no", "yes"]}
# Option sets beside today's: (options, most variants pairwise, three-wise, and in the render
# set of `levels`), ceilings a little above what the search finds and far below the product
# (432, 864 and 10,368 variants for the last three).
SYNTHETIC = {
    "one-option": ({"a": ["1", "2"]}, 2, 2, 2),
    "a-single-value": ({"a": ["1", "2"], "b": ["x"]}, 2, 2, 2),
    "six-options": ({**FIVE, "webhooks": ["no", "yes"]}, 14, 48, 64),
    "seven-options": ({**FIVE, **SOON}, 14, 52, 70),
    "ten-options": ({**FIVE, **SOON, **LATER}, 18, 62, 90),
}


def _missing(variants: list[Variant], options: dict[str, list[str]], strength: int) -> list[str]:
    """By brute force: each `strength` values of different options that no variant has."""
    return [
        " ".join(f"{name}={value}" for name, value in zip(group, values, strict=True))
        for group in combinations(options, min(strength, len(options)))
        for values in product(*(options[name] for name in group))
        if not any(
            all(variant[name] == value for name, value in zip(group, values, strict=True))
            for variant in variants
        )
    ]


def _code_options(options: dict[str, list[str]]) -> dict[str, list[str]]:
    """The options with the configuration-only ones held at their default."""
    return {
        name: values[:1] if name in CONFIG_ONLY_OPTIONS else values
        for name, values in options.items()
    }


def _well_formed(variants: list[Variant], options: dict[str, list[str]]) -> None:
    for variant in variants:
        assert list(variant) == list(options)
        assert all(variant[name] in values for name, values in options.items())
    assert len({json.dumps(variant) for variant in variants}) == len(variants), "repeated"


def _assert_levels(
    render: list[Variant], code: list[Variant], suite: list[Variant], options: dict[str, list[str]]
) -> None:
    """Each level covers what it claims from the defaults on, and the render set holds the rest."""
    _well_formed(render, options)
    _well_formed(code, _code_options(options))
    _well_formed(suite, options)
    assert _missing(render, options, 3) == []
    # Three-wise holds one-wise: every value is among them, so `dev.py` sees every dependency.
    assert _missing(code, _code_options(options), 3) == []
    assert _missing(suite, options, 2) == []
    defaults = {name: values[0] for name, values in options.items()}
    assert render[0] == code[0] == suite[0] == defaults
    assert all(variant in render for variant in code + suite)


def test_options_are_every_choice_list_of_cookiecutter_json() -> None:
    assert list(OPTIONS) == [*FIVE, *SOON, "kubernetes"]
    assert DEFAULTS == {
        "python_version": "3.11",
        "database": "sqlite",
        "auth": "jwt",
        "cache": "memory",
        "jobs": "none",
        "webhooks": "no",
        "websockets": "no",
        "kubernetes": "no",
    }


def test_every_level_has_the_size_it_claims() -> None:
    assert math.prod(len(values) for values in OPTIONS.values()) == 1728
    # The code set needs at least a variant for every auth x database x cache (36); the
    # render set, which holds it, one more for every database x auth at each other Python.
    assert len(CODE_VARIANTS) == 41
    assert len(RENDER_VARIANTS) == 68
    # Every auth x database pair needs a variant of its own: 12 is the least possible.
    assert len(SUITE_VARIANTS) == 13


def test_levels_cover_what_they_claim_and_nest() -> None:
    _assert_levels(RENDER_VARIANTS, CODE_VARIANTS, SUITE_VARIANTS, OPTIONS)


def test_suite_variants_run_every_database_with_every_auth() -> None:
    ran = {(variant["database"], variant["auth"]) for variant in SUITE_VARIANTS}
    assert ran == set(product(OPTIONS["database"], OPTIONS["auth"]))


def test_suite_variants_run_every_python_the_template_offers() -> None:
    ran = {variant["python_version"] for variant in SUITE_VARIANTS}
    assert ran == set(OPTIONS["python_version"])


@pytest.mark.parametrize("path", VARIANT_FILES)
def test_render_variants_meet_every_choice_a_path_depends_on(path: str) -> None:
    """So the file check sees each variant file both kept and removed, by every rule."""
    deciding = sorted(
        {option for keeping in alternatives(VARIANT_FILES[path]) for option in keeping}
    )
    met = {tuple(variant[option] for option in deciding) for variant in RENDER_VARIANTS}
    assert met == set(product(*(OPTIONS[option] for option in deciding)))


@pytest.mark.parametrize("strength", [2, 3])
@pytest.mark.parametrize("case", SYNTHETIC)
def test_covering_covers_any_options_deterministically_and_stays_small(
    case: str, strength: int
) -> None:
    options, most_pairs, most_triples, _ = SYNTHETIC[case]
    defaults = {name: values[0] for name, values in options.items()}
    chosen = covering(options, strength, start=[defaults])

    assert chosen == covering(options, strength, start=[defaults])
    _well_formed(chosen, options)
    assert _missing(chosen, options, strength) == []
    assert chosen[0] == defaults
    assert len(chosen) <= {2: most_pairs, 3: most_triples}[strength]


@pytest.mark.parametrize("case", SYNTHETIC)
def test_levels_nest_and_cover_for_any_options(case: str) -> None:
    options, _, _, most_rendered = SYNTHETIC[case]
    render, code, suite = levels(options)

    assert (render, code, suite) == levels(options)
    _assert_levels(render, code, suite, options)
    assert len(render) <= most_rendered


def test_variant_files_name_each_path_once() -> None:
    def refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        assert duplicated == [], f"named more than once: {duplicated}"
        return dict(pairs)

    json.loads((ROOT / "cookiecutter.json").read_text(), object_pairs_hook=refuse_duplicates)


@pytest.mark.parametrize("path", VARIANT_FILES)
def test_variant_files_entry_is_a_real_file_kept_by_real_choices(path: str) -> None:
    assert (TEMPLATE / path).is_file(), f"{path} is not a file of the template"
    choices = alternatives(VARIANT_FILES[path])
    assert choices, f"{path} names no option"
    for keeping in choices:
        assert keeping, f"{path} names no option"
        for option, values in keeping.items():
            assert option in OPTIONS, f"{path}: {option} is not a choice option"
            assert values, f"{path}: no {option} value keeps it"
            assert len(set(values)) == len(values), f"{path}: {option} values repeat"
            assert set(values) <= set(OPTIONS[option]), f"{path}: unknown {option} values"
            assert set(values) != set(OPTIONS[option]), f"{path}: every {option} keeps it"


def test_every_choice_has_a_prompt_label() -> None:
    prompts = COOKIECUTTER_JSON["__prompts__"]
    for option, values in OPTIONS.items():
        labels = prompts[option]
        assert labels["__prompt__"].strip()
        assert set(labels) - {"__prompt__"} == set(values), option
