"""The host reads back only regular files from a sandbox's work dir, never what the code planted."""

import os
import socket
from pathlib import Path

import pytest

from sandbox import workdir


def test_a_regular_file_is_read_back(tmp_path: Path) -> None:
    workdir.write(tmp_path, "out/summary.json", b'{"ok": true}', uid=None)
    assert workdir.read(tmp_path, "out/summary.json") == b'{"ok": true}'


def test_a_fifo_is_refused_at_once_instead_of_stalling_the_host(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "chart.png")  # no writer ever opens it: a blocking open would hang
    with pytest.raises(ValueError, match="FIFO, not a regular file"):
        workdir.read(tmp_path, "chart.png")


def test_a_symlink_is_refused_even_to_a_file_inside(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"x")
    (tmp_path / "link.txt").symlink_to("/etc/hostname")
    (tmp_path / "inner.txt").symlink_to(tmp_path / "real.txt")
    for name in ("link.txt", "inner.txt"):
        with pytest.raises(ValueError, match="symlink, not a regular file"):
            workdir.read(tmp_path, name)


def test_a_socket_and_a_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(ValueError, match="socket, not a regular file"):
            workdir.read(tmp_path, "sock")
    with pytest.raises(ValueError, match="directory, not a regular file"):
        workdir.read(tmp_path, "dir")


def test_a_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"0" * 101)
    assert workdir.read(tmp_path, "big.bin", limit=101) == b"0" * 101
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        workdir.read(tmp_path, "big.bin", limit=100)


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_paths_out_of_the_work_dir_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="relative to the sandbox work dir"):
        workdir.read(tmp_path, path)
