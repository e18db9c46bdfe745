"""The offline brain's analysis: a fixed driver script for the program in `in_sandbox/`.

The analysis logic lives in `nodes/analyse/in_sandbox/` (entry module ``analysis_runtime.py``),
self-contained modules the workbench writes into the sandbox work dir with the manifest and
its CSVs (`nodes.analyse.workbench.runtime_files`). The driver text from
`generate_analysis_code` imports and runs it; its last stdout line is the summary as JSON.
"""

from __future__ import annotations

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
