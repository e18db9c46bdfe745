"""The code the analyst runs in the code-interpreter sandbox (offline policy).

The analysis logic lives in `nodes/analysis_runtime.py`, a self-contained module. The
caller writes two files into the sandbox work dir — `runtime_source()` as
``analysis_runtime.py`` and the manifest with its CSVs — and then executes the driver text
from `generate_analysis_code`. The driver's last stdout line is the summary as JSON.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: File name the runtime module must have inside the sandbox work dir.
RUNTIME_FILENAME = "analysis_runtime.py"

_DRIVER = """\
import json
import os
import sys

sys.path.insert(0, os.path.abspath({runtime_dir!r}))
import analysis_runtime

summary = analysis_runtime.run({manifest_path!r}, out_dir={out_dir!r})
print(json.dumps(summary, ensure_ascii=False))
"""


def generate_analysis_code(
    *, manifest_path: str, out_dir: str = "out", runtime_dir: str = "."
) -> str:
    """Driver script text: import `analysis_runtime` from `runtime_dir`, run it, print JSON.

    Paths are embedded as Python literals (``repr``), so no path can inject code.
    """
    for name, value in (
        ("manifest_path", manifest_path),
        ("out_dir", out_dir),
        ("runtime_dir", runtime_dir),
    ):
        if not isinstance(value, str) or not value or "\x00" in value:
            msg = f"{name} must be a non-empty path string, got {value!r}"
            raise ValueError(msg)
    return _DRIVER.format(manifest_path=manifest_path, out_dir=out_dir, runtime_dir=runtime_dir)


@functools.cache
def runtime_source() -> str:
    """Source text of `analysis_runtime.py`, to be written into the sandbox work dir (read once
    per process: every analyst attempt writes it)."""
    return (Path(__file__).parent.parent / RUNTIME_FILENAME).read_text(encoding="utf-8")
