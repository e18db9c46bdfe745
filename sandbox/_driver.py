"""In-sandbox REPL: runs inside the jail, executes code in one globals dict.

The host passes this file's source with ``python -c`` and a JSON config as argv[1]. Messages are
4-byte big-endian length + UTF-8 JSON, read from the original fd 0 and written to the original
fd 1; fds 0-2 are then re-pointed so that user code (and its subprocesses) can never write into
the protocol stream. Only the standard library is used: this runs before anything is imported.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import importlib
import io
import json
import math
import os
import resource
import signal
import struct
import sys
import tempfile
import traceback
from typing import Any

_HEADER = struct.Struct(">I")
_MAX_REQUEST = 64 << 20
_MAIN_PID = os.getpid()


def _read_exact(fd: int, size: int) -> bytes | None:
    """Read exactly ``size`` bytes, or None on EOF."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int) -> dict[str, Any] | None:
    """One request from the host, or None when the host hung up."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > _MAX_REQUEST:
        return None
    body = _read_exact(fd, size)
    return None if body is None else json.loads(body)


def _send(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:  # gVisor's host pipes take a large write in parts
        data = data[os.write(fd, data) :]


class _Capped(io.TextIOBase):
    """A text sink that keeps the first ``limit`` UTF-8 bytes and drops the rest."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.truncated = limit, 0, False
        self.parts: list[str] = []

    def write(self, s: str) -> int:
        room = self.limit - self.size
        data = s.encode("utf-8", "replace")
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        self.parts.append(data.decode("utf-8", "ignore"))
        self.size += len(data)
        return len(s)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self.parts)


def _apply_limits(cfg: dict[str, Any], *, cpu_spent: int = 0) -> None:
    """Set rlimits; SIGXFSZ is ignored so oversize writes raise OSError(EFBIG) instead.

    ``cpu_spent``: CPU seconds already on this process's clock that are not the session's
    (a restored template's imports), added to the CPU limit.
    """
    mib = 1 << 20
    cpu = int(cfg["cpu_time_s"]) + cpu_spent
    wanted = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (cfg["memory_mb"] * mib,) * 2,
        resource.RLIMIT_FSIZE: (cfg["file_size_mb"] * mib,) * 2,
        resource.RLIMIT_NPROC: (cfg["processes"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, value in wanted.items():
        resource.setrlimit(which, value)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _limit_for(exc: BaseException) -> str | None:
    """Name the resource limit an exception points at, if any."""
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "file_size"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk"
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN:
        return "processes"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "processes"
    return None


def _run_code(code: str, namespace: dict[str, Any]) -> None:
    """Exec ``code``; echo the value of a trailing expression like a notebook cell does."""
    tree = ast.parse(code, "<cell>", "exec")
    last = tree.body[-1] if tree.body else None
    tail = tree.body.pop() if isinstance(last, ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    if isinstance(tail, ast.Expr):
        value = eval(compile(ast.Expression(tail.value), "<cell>", "eval"), namespace)
        if value is not None:
            print(repr(value))


def _format_error(exc: BaseException) -> str:
    """The traceback as the user's code sees it: driver frames are dropped."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(exc))
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _fd_output(capture: int, limit: int) -> str:
    """Output written straight to fds 1/2 (os.write, subprocesses) during the call."""
    os.lseek(capture, 0, os.SEEK_SET)
    data = os.read(capture, limit + 1)
    return data.decode("utf-8", "replace")


def _execute(code: str, namespace: dict[str, Any], *, limit: int, capture: int) -> dict[str, Any]:
    out, err = _Capped(limit), _Capped(limit)
    os.ftruncate(capture, 0)
    os.lseek(capture, 0, os.SEEK_SET)
    result: dict[str, Any] = {"exit_status": 0, "error_type": None, "error_message": None}
    sys.stdout, sys.stderr = out, err
    try:
        _run_code(code, namespace)
    except BaseException as exc:
        if os.getpid() != _MAIN_PID:
            os._exit(1)
        err.write(_format_error(exc))
        status = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
        result.update(exit_status=status, error_type=type(exc).__name__, error_message=str(exc))
        result["limit_hit"] = _limit_for(exc)
    finally:
        if os.getpid() != _MAIN_PID:
            os._exit(0)  # a fork() in user code must never answer the host
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
    raw = _fd_output(capture, limit)
    if raw:
        out.write(raw)
    result.update(stdout=out.getvalue(), stderr=err.getvalue())
    result["truncated"] = out.truncated or err.truncated
    return result


def _redirect_std_fds() -> tuple[int, int, int]:
    """Move the protocol off fds 0/1; point 0 at /dev/null and 1/2 at a capture file."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    capture, path = tempfile.mkstemp(prefix=".fd-output-")
    os.unlink(path)
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    return proto_in, proto_out, capture


def _preload(modules: list[str]) -> str | None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            return f"preload of {name!r} failed: {type(exc).__name__}: {exc}"
    with contextlib.suppress(Exception):  # only ever a speed-up: fonts read from their files
        _fonts_in_memory()
    return None


class _FontBytes(io.BytesIO):
    """A font file's bytes, handed to FreeType in place of the open file."""


class _FontBytesPath(_FontBytes):
    """The same once FreeType holds it, naming its file.

    Backends that embed a font (PDF, PS) read ``font.fname`` as a path (``os.fspath``).
    """

    path = ""

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


_FONTS: dict[str, bytes] = {}


def _fonts_in_memory() -> None:
    """Serve matplotlib's font files to FreeType from memory, each read once per process.

    FreeType reads a font through matplotlib's file object one small ``seek`` + ``read`` at a
    time: ~46,000 syscalls for the demo's four charts, each costing ~60 µs under gVisor's ptrace
    platform. From memory they cost none. The files are the same read-only files the sandbox
    shows; the default font and the last-resort fallback are read here, so a snapshot template
    carries them in its image and restored sessions read nothing at all.
    """
    font_manager: Any = sys.modules.get("matplotlib.font_manager")
    if font_manager is None:
        return
    real = font_manager.ft2font

    class _FT2FontModule:
        """`matplotlib.ft2font` as `font_manager` sees it: `FT2Font` opens from memory."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def FT2Font(filename: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(filename, str):
                return real.FT2Font(filename, *args, **kwargs)
            data = _FONTS.get(filename)
            if data is None:
                with open(filename, "rb") as file:
                    data = _FONTS[filename] = file.read()
            stream: Any = _FontBytes(data)
            font = real.FT2Font(stream, *args, **kwargs)
            stream.__class__ = _FontBytesPath  # FreeType checked for a path already
            stream.path = filename
            return font

    font_manager.ft2font = _FT2FontModule()
    font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))


def _module_files() -> list[str]:
    """Files the imported modules came from: the host checks them before reusing an image."""
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return sorted(f for f in files if isinstance(f, str) and os.path.isabs(f))


def _reseed() -> None:
    """Fresh seeds for the RNGs a snapshot froze: every restored session starts from one image."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def main() -> None:
    cfg = json.loads(sys.argv[1])
    proto_in, proto_out, capture = _redirect_std_fds()
    template = bool(cfg.get("template"))
    if not template:
        _apply_limits(cfg)
    for var in ("XDG_CACHE_HOME", "MPLCONFIGDIR"):  # keep tool caches out of the work dir
        if os.environ.get(var):
            os.makedirs(os.environ[var], exist_ok=True)
    sys.path.insert(0, os.getcwd())
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    hello = {"ready": True, "preload_error": _preload(cfg.get("preload", []))}
    if template:
        # A snapshot template: the host checkpoints it while it waits here, and each session
        # restored from that image resumes here with its own limits.
        _send(proto_out, {**hello, "template": True, "modules": _module_files()})
        request = _recv(proto_in)
        if request is None:
            return
        cfg = request["configure"]
        hello = {"ready": True, "preload_error": None}
        try:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            _apply_limits(cfg, cpu_spent=math.ceil(usage.ru_utime + usage.ru_stime))
            _reseed()
        except Exception as exc:
            _send(proto_out, {**hello, "configure_error": f"{type(exc).__name__}: {exc}"})
            return
    _send(proto_out, hello)
    while (request := _recv(proto_in)) is not None:
        reply = _execute(request["code"], namespace, limit=cfg["output_bytes"], capture=capture)
        _send(proto_out, reply)


if __name__ == "__main__":
    main()
