"""The code sandbox's REPL serves matplotlib's fonts from memory: same pictures, far fewer reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox.tiers import DRIVER_SOURCE

PROGRAM = """
import hashlib, json, os, sys
namespace = {"__name__": "flotilla_driver"}
exec(compile(sys.argv[1], "_driver.py", "exec"), namespace)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager
if sys.argv[2] == "memory":
    namespace["_fonts_in_memory"]()
out = {}
for ext in ("png", "pdf", "svg"):
    fig, ax = plt.subplots()
    ax.bar(["Starter", "Team", "Business"], [4.5, 12.0, 30.0])
    ax.set_title("Monthly price (USD)")
    path = os.path.join(sys.argv[3], f"{sys.argv[2]}.{ext}")
    fig.savefig(path, metadata={"Date": None} if ext == "pdf" else None)
    plt.close(fig)
    out[ext] = os.path.getsize(path)
    if ext == "png":
        out["png_sha"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
font = font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
out["fname_type"] = type(font.fname).__name__
out["fname_path"] = os.fspath(font.fname)
out["cached"] = sorted(namespace["_FONTS"])
print(json.dumps(out))
"""


def _draw(mode: str, folder: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, DRIVER_SOURCE, mode, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fonts_from_memory_draw_the_same_charts_in_every_format(tmp_path: Path) -> None:
    files = _draw("files", tmp_path)
    memory = _draw("memory", tmp_path)
    assert memory["png_sha"] == files["png_sha"]  # pixel for pixel
    assert memory["pdf"] == files["pdf"] and memory["svg"] == files["svg"]
    assert files["fname_type"] == "str" and files["cached"] == []
    # FreeType reads an in-memory copy; the font still names its file for PDF/PS embedding.
    assert memory["fname_type"] == "_FontBytesPath"
    assert memory["fname_path"] == files["fname_path"]
    assert files["fname_path"] in memory["cached"]
