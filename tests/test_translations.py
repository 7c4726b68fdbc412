"""Translations: every language says everything English says, with the same blanks.

English (``translations/en.json``, a copy of ``strings.json``) is the reference. Each
other file under ``translations/`` must have exactly its keys, and each string the
same ``{placeholders}``: Home Assistant fills them in by name, so a renamed, missing
or extra placeholder shows the user a raw ``{name}`` or drops a value.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "novabot"
TRANSLATIONS = INTEGRATION / "translations"
ENGLISH = TRANSLATIONS / "en.json"

# The languages of the charger's owners (issue 13); any further file is checked too.
REQUIRED_LANGUAGES = {"de", "fr", "nl"}
LANGUAGES = sorted(
    path.stem for path in TRANSLATIONS.glob("*.json") if path.stem != "en"
)

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json would keep the last)."""
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate keys: {duplicates}")
    return dict(pairs)


def _load(path: Path) -> dict[str, Any]:
    """The parsed file, strictly: UTF-8, no duplicate keys, an object at the top."""
    data = json.loads(
        path.read_text(encoding="utf-8"), object_pairs_hook=_reject_duplicate_keys
    )
    assert isinstance(data, dict), f"{path.name}: the top level is not an object"
    return data


def _strings(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of the tree by its dotted key (``config.step.user.title``)."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.update(_strings(value, f"{path}."))
        else:
            leaves[path] = value
    return leaves


def _placeholders(text: str) -> set[str]:
    """The names between braces: ``{host}:{port}`` -> {"host", "port"}."""
    return set(PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def english() -> dict[str, Any]:
    """English's strings by dotted key."""
    return _strings(_load(ENGLISH))


def test_the_owners_languages_are_translated() -> None:
    assert REQUIRED_LANGUAGES - set(LANGUAGES) == set()


def test_strings_json_and_english_translation_are_identical() -> None:
    strings = _strings(_load(INTEGRATION / "strings.json"))
    assert strings == _strings(_load(ENGLISH)), (
        "translations/en.json must be a copy of strings.json"
    )


def test_english_strings_are_all_text(english: dict[str, Any]) -> None:
    assert {
        key for key, value in english.items() if not isinstance(value, str)
    } == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_file_is_valid_json(language: str) -> None:
    path = TRANSLATIONS / f"{language}.json"
    try:
        _load(path)
    except ValueError as err:  # json.JSONDecodeError and duplicate keys
        pytest.fail(f"{path.name} is not valid JSON: {err}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_exactly_the_english_keys(
    language: str, english: dict[str, Any]
) -> None:
    translated = _strings(_load(TRANSLATIONS / f"{language}.json"))
    assert {
        "missing": sorted(english.keys() - translated.keys()),
        "extra": sorted(translated.keys() - english.keys()),
    } == {"missing": [], "extra": []}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_keeps_the_english_placeholders(
    language: str, english: dict[str, Any]
) -> None:
    translated = _strings(_load(TRANSLATIONS / f"{language}.json"))
    changed = {
        key: {
            "english": sorted(_placeholders(english[key])),
            language: sorted(_placeholders(text)),
        }
        for key, text in translated.items()
        if key in english
        and isinstance(text, str)
        and _placeholders(text) != _placeholders(english[key])
    }
    assert changed == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_string_is_empty(language: str) -> None:
    translated = _strings(_load(TRANSLATIONS / f"{language}.json"))
    empty = sorted(
        key
        for key, text in translated.items()
        if not isinstance(text, str) or not text.strip()
    )
    assert empty == []
