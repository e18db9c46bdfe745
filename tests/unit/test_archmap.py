"""The README's architecture picture is drawn from the code, so it cannot drift from it."""

import subprocess
import sys
from pathlib import Path

from scripts import archmap

ROOT = Path(__file__).resolve().parents[2]


def test_readme_picture_matches_the_code() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/archmap.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_picture_has_every_folder_and_the_builder_arrow() -> None:
    picture = archmap.mermaid()
    for folder in ("cli/", "graph/", "memory/", "sandbox/", "demo_sites/"):
        assert f'["{folder}"]' in picture
    # The builder composes the nodes; nothing under sandbox/ or memory/ imports a node.
    assert "m_graph_builder --> m_nodes" in picture
    assert not any(
        line.strip().startswith(("m_sandbox", "m_memory")) and "--> m_nodes" in line
        for line in picture.splitlines()
    )


def test_relative_imports_resolve(tmp_path: Path) -> None:
    pkg = tmp_path / "nodes" / "browse"
    pkg.mkdir(parents=True)
    (tmp_path / "nodes" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .node import browse\n")
    (pkg / "node.py").write_text("from ..urls import same\nimport nodes.urls\n")
    (tmp_path / "nodes" / "urls.py").write_text("")
    found = archmap.modules(tmp_path)
    assert archmap.imports_of("nodes.browse.node", found["nodes.browse.node"], set(found)) == [
        "nodes.urls",
        "nodes.urls",
    ]
    assert archmap.imports_of("nodes.browse", found["nodes.browse"], set(found)) == [
        "nodes.browse.node"
    ]
