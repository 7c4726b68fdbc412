"""Release bookkeeping: the manifest, the changelog and hacs.json tell one story.

HACS offers the version in the manifest and installs only on the Home Assistant
version hacs.json names; users read CHANGELOG.md to see what a version brings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
import json
from pathlib import Path
import re

from homeassistant import const as ha_const

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = ROOT / "CHANGELOG.md"
MANIFEST = ROOT / "custom_components" / "novabot" / "manifest.json"
HACS = ROOT / "hacs.json"

UNRELEASED = "[Unreleased]"
RELEASE_HEADING = re.compile(
    r"\[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})"
)


@dataclass(frozen=True)
class Release:
    """A dated section of the changelog."""

    name: str  # the version as written, e.g. "0.1.0"
    date: date

    @property
    def version(self) -> tuple[int, ...]:
        """The version as numbers, which order like releases do."""
        return tuple(int(part) for part in self.name.split("."))


def section_headings() -> list[str]:
    """The changelog's second-level headings, without the ``## ``, in order."""
    text = CHANGELOG.read_text(encoding="utf-8")
    return re.findall(r"^## (.*?)\s*$", text, flags=re.MULTILINE)


def releases() -> list[Release]:
    """The dated sections, in the order the changelog lists them.

    Raises ValueError for a date that is not in the calendar (2026-02-30).
    """
    return [
        Release(match["version"], date.fromisoformat(match["date"]))
        for heading in section_headings()
        if (match := RELEASE_HEADING.fullmatch(heading))
    ]


def test_changelog_opens_with_an_unreleased_section_for_ongoing_work() -> None:
    assert section_headings()[0] == UNRELEASED


def test_every_other_section_is_a_version_with_its_release_date() -> None:
    # Written as "## [X.Y.Z] - YYYY-MM-DD", with a date that exists.
    headings = section_headings()[1:]

    assert headings, "the changelog lists no release"
    assert [h for h in headings if not RELEASE_HEADING.fullmatch(h)] == []
    assert len(releases()) == len(headings)


def test_releases_are_listed_newest_first() -> None:
    listed = releases()

    assert [r.version for r in listed] == sorted(
        {r.version for r in listed}, reverse=True
    )
    assert [r.date for r in listed] == sorted((r.date for r in listed), reverse=True)


def test_every_section_heading_links_to_its_changes() -> None:
    # Keep a Changelog's headings are links; their targets sit at the bottom.
    text = CHANGELOG.read_text(encoding="utf-8")
    targets = set(re.findall(r"^(\[[^\]]+\]): \S+$", text, flags=re.MULTILINE))
    labels = [UNRELEASED, *(f"[{r.name}]" for r in releases())]

    assert [label for label in labels if label not in targets] == []


def test_manifest_version_is_the_newest_released_version() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))

    assert manifest["version"] == releases()[0].name


def test_hacs_requires_the_home_assistant_version_the_tests_run_on() -> None:
    # hacs.json's minimum is what users are promised works: the tested version.
    hacs = json.loads(HACS.read_text(encoding="utf-8"))

    assert hacs["homeassistant"] == ha_const.__version__
