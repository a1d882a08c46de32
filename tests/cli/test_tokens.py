"""`hydro tokens create|list|revoke` and `hydro audit`: an admin hands out a viewer token, the viewer reads
but cannot change anything, and the audit trail shows who tried what."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.cli.conftest import ControlPlane, copy_example


def test_an_admin_creates_a_viewer_token_that_reads_but_cannot_write(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    name = f"reader-{uuid.uuid4().hex[:6]}"
    created = hydro("tokens", "create", name, "--role", "viewer")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("ht_") and "shown once" in created.stderr

    listed = hydro("tokens", "list")
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if name in line)
    assert "viewer" in line and token not in listed.stdout

    as_viewer = control_plane.env(HYDRO_TOKEN=token)
    assert hydro("models", env=as_viewer).exit_code == 0
    folder, _ = copy_example("fraud-detector", tmp_path)
    refused = hydro("deploy", str(folder), "--app", "nope", env=as_viewer)
    assert refused.exit_code == 1
    assert (
        "needs the deployer role" in refused.stderr
        and f"the token '{name}' has the viewer role" in refused.stderr
    )
    escalate = hydro("tokens", "create", "sneaky", "--role", "admin", env=as_viewer)
    assert escalate.exit_code == 1 and "needs the admin role" in escalate.stderr

    trail = hydro("audit", "--limit", "2")
    assert trail.exit_code == 0, trail.output
    assert "POST /api/v1/tokens" in trail.stdout and name in trail.stdout and "403" in trail.stdout

    revoked = hydro("tokens", "revoke", name)
    assert revoked.exit_code == 0 and name in revoked.stdout
    gone = hydro("models", env=as_viewer)
    assert gone.exit_code == 1 and "not valid" in gone.stderr
    again = hydro("tokens", "revoke", name)
    assert again.exit_code == 1 and f"token '{name}' does not exist" in again.stderr


def test_bad_token_commands_are_refused_with_a_reason(hydro: Any) -> None:
    wrong_role = hydro("tokens", "create", "someone", "--role", "owner")
    assert wrong_role.exit_code == 2 and "owner" in wrong_role.stderr
    bad_name = hydro("tokens", "create", "Not_A_Label", "--role", "viewer")
    assert bad_name.exit_code == 1 and "token name 'Not_A_Label' is not valid" in bad_name.stderr
    bad_limit = hydro("audit", "--limit", "0")
    assert bad_limit.exit_code == 2


def test_the_audit_trail_pages_back_in_time(hydro: Any) -> None:
    for _ in range(3):
        assert hydro("tokens", "create", f"t-{uuid.uuid4().hex[:6]}", "--role", "viewer").exit_code == 0
    first = hydro("audit", "--limit", "2")
    assert first.exit_code == 0, first.output
    hint = first.stderr.strip().splitlines()[-1]
    assert hint.startswith("older events: hydro audit --before ")
    before = hint.rsplit(" ", 1)[1]
    older = hydro("audit", "--limit", "2", "--before", before)
    assert older.exit_code == 0, older.output
    ids = [int(line.split()[0]) for line in older.stdout.splitlines()[1:] if line.strip()]
    assert ids and all(i < int(before) for i in ids)
