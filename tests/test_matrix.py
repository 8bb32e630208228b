"""The variant matrix and the option-to-files map: well-formed, and covering what they claim."""

from __future__ import annotations

import json
import math
from itertools import product

import pytest

from tests.matrix import (
    CODE_VARIANTS,
    COOKIECUTTER_JSON,
    DEFAULTS,
    INDEPENDENT,
    OPTIONS,
    ROOT,
    SUITE_VARIANTS,
    VARIANT_FILES,
    VARIANTS,
    Variant,
    all_pairs,
    pairs_in,
    pairwise,
)

TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"


def _covered(variants: list[Variant], options: dict[str, list[str]]) -> set[tuple[object, ...]]:
    return set().union(*(pairs_in(variant, options) for variant in variants))


def test_options_are_every_choice_list_of_cookiecutter_json() -> None:
    assert list(OPTIONS) == ["python_version", "database", "auth", "cache", "jobs"]
    assert DEFAULTS == {
        "python_version": "3.11",
        "database": "sqlite",
        "auth": "jwt",
        "cache": "memory",
        "jobs": "none",
    }


def test_every_level_has_the_size_it_claims() -> None:
    assert math.prod(len(values) for values in OPTIONS.values()) == 216
    # Without a queue every combination (3 x 3 x 4 x 3); with one, the default cache only;
    # and the 4 pairwise variants with both away from their defaults.
    assert len(VARIANTS) == 108 + 36 + 4
    assert len({json.dumps(variant, sort_keys=True) for variant in VARIANTS}) == len(VARIANTS)
    assert len(CODE_VARIANTS) == 3 * 4 * 3 + 3 * 4 + 1
    assert {variant["python_version"] for variant in CODE_VARIANTS} == {"3.11"}
    # Every auth x database pair needs a variant of its own: 12 is the least possible; with
    # the jobs option the greedy search needs one more.
    assert len(SUITE_VARIANTS) == 13


def test_independent_options_each_meet_every_database_and_auth() -> None:
    """Trimming the product of independent options drops no code path from `mypy`."""
    typed = {
        tuple(variant[name] for name in OPTIONS if name != "python_version")
        for variant in CODE_VARIANTS
    }
    for database, auth in product(OPTIONS["database"], OPTIONS["auth"]):
        for cache in OPTIONS["cache"]:
            assert (database, auth, cache, DEFAULTS["jobs"]) in typed
        for jobs in OPTIONS["jobs"]:
            assert (database, auth, DEFAULTS["cache"], jobs) in typed
    linted = {(variant["cache"], variant["jobs"]) for variant in VARIANTS}
    assert linted == set(product(OPTIONS["cache"], OPTIONS["jobs"]))
    assert INDEPENDENT == (("cache", "jobs"),)


def test_suite_variants_cover_every_pair_of_option_values() -> None:
    assert all_pairs(OPTIONS) <= _covered(SUITE_VARIANTS, OPTIONS)
    assert SUITE_VARIANTS[0] == DEFAULTS
    assert all(variant in VARIANTS for variant in SUITE_VARIANTS)


def test_suite_variants_run_every_database_with_every_auth() -> None:
    ran = {(variant["database"], variant["auth"]) for variant in SUITE_VARIANTS}
    assert ran == set(product(OPTIONS["database"], OPTIONS["auth"]))


def test_suite_variants_run_every_python_the_template_offers() -> None:
    ran = {variant["python_version"] for variant in SUITE_VARIANTS}
    assert ran == set(OPTIONS["python_version"])


@pytest.mark.parametrize(
    "options",
    [
        {"a": ["1", "2"]},
        {"a": ["1", "2"], "b": ["x"]},
        {**OPTIONS, "webhooks": ["no", "yes"]},
        {
            **OPTIONS,
            "webhooks": ["no", "yes"],
            "websockets": ["no", "yes"],
            "files": ["none", "local", "s3"],
            "tracing": ["no", "yes"],
            "kubernetes": ["no", "yes"],
        },
    ],
    ids=["one-option", "a-single-value", "six-options", "ten-options"],
)
def test_pairwise_covers_any_options_deterministically_and_stays_small(
    options: dict[str, list[str]],
) -> None:
    defaults = {name: values[0] for name, values in options.items()}
    chosen = pairwise(options, start=[defaults])

    assert chosen == pairwise(options, start=[defaults])
    assert all_pairs(options) <= _covered(chosen, options)
    assert chosen[0] == defaults
    for variant in chosen:
        assert list(variant) == list(options)
        assert all(variant[name] in values for name, values in options.items())
    sizes = sorted((len(values) for values in options.values()), reverse=True)
    at_least = sizes[0] * sizes[1] if len(sizes) > 1 else 1
    assert len(chosen) <= max(2 * at_least, 2), len(chosen)


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
    keeping = VARIANT_FILES[path]
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
