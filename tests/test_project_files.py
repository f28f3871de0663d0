"""What a newcomer looks for first: the licence, the changelog, bounded dependencies."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_license_file_is_the_mit_license_pyproject_names() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "backorder-bot contributors" in text


def test_the_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["fastapi", "uvicorn", "typer"])
def test_fast_moving_dependencies_have_an_upper_bound(name: str) -> None:
    spec = next(d for d in PYPROJECT["project"]["dependencies"] if re.match(rf"{name}\b", d, re.I))
    assert "<" in spec, spec


def test_the_readme_says_why_each_dependency_is_there() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").lower()
    section = readme.split("### why each dependency is there", 1)[1].split("\n## ", 1)[0]
    for dependency in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[<>=\[ ]", dependency, maxsplit=1)[0].lower()
        assert name in section, name
