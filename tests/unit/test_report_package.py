"""The report's templates ship in the wheel: pyproject's package-data names every one of them."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from nodes.report.render import environment

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_is_package_data_and_loads() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["nodes"]
    templates = sorted((ROOT / "nodes" / "report" / "templates").iterdir())
    assert templates
    for path in templates:
        rel = path.relative_to(ROOT / "nodes").as_posix()
        assert any(fnmatch(rel, glob) for glob in globs), f"{rel} is not package data"
        kind = "md" if path.name.endswith(".md.j2") else "html"
        assert environment(kind).get_template(path.name) is not None


def test_the_price_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["nodes"]
    assert any(fnmatch("report/prices.toml", glob) for glob in globs)
