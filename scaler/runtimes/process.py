"""The `process` backend (embedded default): each replica is `python -m runtime` on a loopback port.

The version's package is unpacked once into `{HYDRO_HOME}/replicas/{model}/{version}/`; each replica is
`sys.executable -m runtime --model-dir DIR --port P --host 127.0.0.1` with the repository root (the folder
that holds `runtime/`, `protos/` and `wire/`) on PYTHONPATH. Its output goes to `{HYDRO_HOME}/replicas/.logs/`
(deleted after a clean stop, kept when the replica failed).
A small JSON file per running replica under `{HYDRO_HOME}/replicas/.run/` lets a scaler that restarts
after a crash find (and adopt or stop) processes its predecessor left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scaler.errors import StartError
from scaler.probe import ReadyProbe
from scaler.runtimes.artifacts import ArtifactCache
from scaler.runtimes.base import ReplicaHandle, ReplicaSpec, ready_or_exited

log = logging.getLogger(__name__)

_LOG_TAIL_BYTES = 2000


@dataclass
class _Running:
    handle: ReplicaHandle
    pid: int
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    """Set for our own children; None for a process adopted from a previous scaler."""


class ProcessRuntime:
    """Runs replicas as local runtime processes."""

    name = "process"

    def __init__(
        self,
        home: Path,
        *,
        stop_timeout_s: float = 3.0,
        python: str = sys.executable,
        verify: ssl.SSLContext | bool = True,
        control_plane_url: str | None = None,
        service_token: str | None = None,
    ) -> None:
        """`verify`: what `https://` downloads check the server against (`servicekit.tls.http_verify`);
        `control_plane_url` and `service_token`: where packages stored outside the local filesystem
        (`s3://`) are downloaded from, and the service credential that download presents."""
        self.root = home / "replicas"
        self.stop_timeout_s = stop_timeout_s
        self.python = python
        self.artifacts = ArtifactCache(
            self.root, verify=verify, control_plane_url=control_plane_url, service_token=service_token
        )
        self._run_dir = self.root / ".run"
        self._log_dir = self.root / ".logs"
        self._running: dict[str, _Running] = {}
        self._pythonpath = _pythonpath()

    async def prepare(self, spec: ReplicaSpec) -> None:
        """Nothing ahead of time yet: the package is unpacked by the first start."""

    async def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        began = time.monotonic()
        model_dir = await self.artifacts.ensure(spec.model, spec.version, spec.artifact_url)
        unpacked = time.monotonic()
        await asyncio.to_thread(self._log_dir.mkdir, parents=True, exist_ok=True)
        port = _free_port()
        log_path = self._log_dir / f"{spec.model}-{spec.version}-{port}.log"
        env = {**replica_environment(os.environ), "PYTHONPATH": self._pythonpath, "PYTHONUNBUFFERED": "1"}
        with log_path.open("ab") as output:
            try:
                process = await asyncio.create_subprocess_exec(
                    self.python,
                    "-m",
                    "runtime",
                    "--model-dir",
                    str(model_dir),
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    # Its own session: a Ctrl-C meant for the scaler reaches replicas only through stop().
                    start_new_session=True,
                )
            except OSError as exc:
                raise StartError(
                    f"cannot run {self.python} -m runtime for {spec.version_key}: {exc}"
                ) from exc
        handle = ReplicaHandle(
            replica_id=str(process.pid),
            version_key=spec.version_key,
            model=spec.model,
            address=f"127.0.0.1:{port}",
            phases=(("unpack", unpacked - began), ("start", time.monotonic() - unpacked)),
        )
        self._running[handle.replica_id] = _Running(handle, process.pid, log_path, process)
        await asyncio.to_thread(self._write_record, handle, process.pid, model_dir, log_path)
        return handle

    async def wait_ready(self, replica: ReplicaHandle, probe: ReadyProbe, timeout: float) -> None:
        await ready_or_exited(replica, probe, self.wait_exited(replica), timeout)

    async def wait_exited(self, replica: ReplicaHandle) -> str:
        running = self._running.get(replica.replica_id)
        if running is None:
            return "not running"
        if running.process is not None:
            code = await running.process.wait()
        else:
            await _wait_pid(running.pid)
            code = None
        tail = await asyncio.to_thread(_tail, running.log_path)
        how = f"exit code {code}" if code is not None else "exited"
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        return f"{how}; last output: {tail}" if tail else how

    async def stop(self, replica: ReplicaHandle) -> None:
        running = self._running.pop(replica.replica_id, None)
        if running is None:
            return
        try:
            await self._terminate(running)
        finally:
            with contextlib.suppress(OSError):
                await asyncio.to_thread((self._run_dir / f"{running.pid}.json").unlink, missing_ok=True)
        if running.process is not None and running.process.returncode in (0, -signal.SIGTERM):
            # A clean stop: the log holds nothing worth keeping (failures keep theirs).
            with contextlib.suppress(OSError):
                await asyncio.to_thread(running.log_path.unlink, missing_ok=True)

    async def list_existing(self) -> list[ReplicaHandle]:
        found = []
        for record in await asyncio.to_thread(self._read_records):
            handle, pid, log_path = record
            self._running[handle.replica_id] = _Running(handle, pid, log_path)
            found.append(handle)
        return found

    async def close(self) -> None:
        """Stop every process this backend still knows of."""
        await asyncio.gather(*(self.stop(r.handle) for r in list(self._running.values())))

    async def _terminate(self, running: _Running) -> None:
        if not _alive(running):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(running.pid, signal.SIGTERM)
        if await _exits_within(running, self.stop_timeout_s):
            return
        log.warning(
            "replica %s did not exit on SIGTERM within %g s; killing it", running.pid, self.stop_timeout_s
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(running.pid, signal.SIGKILL)
        await _exits_within(running, 10.0)

    def _write_record(self, handle: ReplicaHandle, pid: int, model_dir: Path, log_path: Path) -> None:
        self._run_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": pid,
            "version_key": handle.version_key,
            "model": handle.model,
            "address": handle.address,
            "model_dir": str(model_dir),
            "log": str(log_path),
        }
        (self._run_dir / f"{pid}.json").write_text(json.dumps(record))

    def _read_records(self) -> list[tuple[ReplicaHandle, int, Path]]:
        """Records of processes that still run our runtime; stale records are deleted."""
        if not self._run_dir.is_dir():
            return []
        found = []
        for path in sorted(self._run_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
                pid = int(record["pid"])
                handle = ReplicaHandle(str(pid), record["version_key"], record["model"], record["address"])
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
                continue
            if b"runtime" in cmdline and record["model_dir"].encode() in cmdline:
                found.append((handle, pid, Path(record["log"])))
            else:
                path.unlink(missing_ok=True)
        return found


SECRET_VARIABLES = frozenset(
    {
        "HYDRO_TOKEN",
        "HYDRO_ADMIN_TOKEN",
        "HYDRO_SERVICE_TOKEN",
        "HYDRO_TLS_KEY_FILE",
        "HYDRO_DATABASE_URL",  # may carry a password
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
)
"""The platform's secrets, which model code has no business reading."""


def replica_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The scaler's environment without the platform's secrets: a replica runs the model's own code."""
    return {name: value for name, value in environ.items() if name not in SECRET_VARIABLES}


def _pythonpath() -> str:
    """The repository root (holding `runtime/`, `protos/` and `wire/`), found without importing either."""
    roots: list[str] = []
    for package in ("runtime", "protos", "wire"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise StartError(f"the {package!r} package is not importable; the process runtime needs it")
        root = str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)
        if root not in roots:
            roots.append(root)
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*roots, existing] if existing else roots)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(running: _Running) -> bool:
    if running.process is not None:
        return running.process.returncode is None
    return Path(f"/proc/{running.pid}").exists()


async def _exits_within(running: _Running, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            if running.process is not None:
                await running.process.wait()
            else:
                await _wait_pid(running.pid)
    except TimeoutError:
        return False
    return True


async def _wait_pid(pid: int) -> None:
    """Wait for a process that is not our child to exit (a pidfd turns readable when it does)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, on_exit)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - _LOG_TAIL_BYTES))
            text = file.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-8:])
