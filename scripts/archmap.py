"""Draw Flotilla's architecture from its code: folders as boxes, modules inside, imports as arrows.

The picture is a Mermaid flowchart written into README.md between the `archmap` markers, so it
is read from the code each time and cannot drift:

    python scripts/archmap.py            # rewrite the README's picture
    python scripts/archmap.py --check    # exit 1 when the README's picture is out of date
    python scripts/archmap.py --print    # print the picture

Each box is a folder of the product (`nodes/browse`, `memory`, ...) holding its modules; an arrow
`A --> B` says some module in A imports some module in B. `graph/` holds both the top (the
builder, the runner) and the bottom (state, context, models) of the design, so its modules are
drawn one by one. Only imports between the project's own modules count; `tests/` and `scripts/`
are left out.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "cli",
    "bench",
    "examples",
    "integrations",
    "graph",
    "nodes",
    "memory",
    "sandbox",
    "demo_sites",
)
# Folders whose modules are ends of arrows one by one, not as one box.
ONE_BY_ONE = {"graph"}
BEGIN, END = "<!-- archmap -->", "<!-- /archmap -->"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every product module by dotted name (`nodes.browse.node`), packages as their `__init__`."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an `ImportFrom` names (relative imports resolved against `importer`)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, known: set[str]) -> list[str]:
    """The project modules one module imports (the deepest known name each import refers to)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path.name == "__init__.py", node)
            candidates = [f"{base}.{alias.name}" for alias in node.names] or [base]
            candidates = [c if c in known else base for c in candidates]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.append(candidate)
    return targets


def folder(path: Path, root: Path = ROOT) -> str:
    """The folder a module lives in, as a path (`nodes/browse`)."""
    return path.parent.relative_to(root).as_posix()


def _ident(text: str) -> str:
    return "m_" + text.replace("/", "_").replace(".", "_")


def _only_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _end(name: str, path: Path, root: Path) -> str:
    """What an arrow to or from this module starts or ends at: its folder's box, or itself."""
    where = folder(path, root)
    return _ident(name) if where in ONE_BY_ONE else _ident(where)


def mermaid(root: Path = ROOT) -> str:
    """The whole picture as a Mermaid flowchart (top to bottom, callers above what they call)."""
    found = modules(root)
    known = set(found)
    folders: dict[str, list[str]] = {}
    arrows: set[tuple[str, str]] = set()
    for name, path in found.items():
        folders.setdefault(folder(path, root), []).append(name)
        source = _end(name, path, root)
        for target in imports_of(name, path, known):
            end = _end(target, found[target], root)
            if end != source:
                arrows.add((source, end))
    lines = ["```mermaid", "flowchart TB"]
    for where in sorted(folders):
        lines.append(f'  subgraph {_ident(where)}["{where}/"]')
        for name in sorted(folders[where]):
            path = found[name]
            if path.name == "__init__.py" and _only_docstring(path):
                continue
            lines.append(f'    {_ident(name)}["{path.name}"]')
        lines.append("  end")
    lines.extend(f"  {source} --> {target}" for source, target in sorted(arrows))
    lines.append("```")
    return "\n".join(lines)


def _with_picture(readme: str, picture: str) -> str:
    head, begin, rest = readme.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"README.md has no {BEGIN} … {END} section")
    return f"{head}{BEGIN}\n{picture}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite, check or print the README's architecture picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    mode.add_argument("--print", action="store_true", help="print the picture")
    args = parser.parse_args(argv)
    picture = mermaid()
    if args.print:
        print(picture)
        return 0
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    wanted = _with_picture(readme, picture)
    if args.check:
        if wanted != readme:
            print(
                "README.md's architecture picture is out of date: run make archmap", file=sys.stderr
            )
            return 1
        return 0
    if wanted != readme:
        readme_path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
