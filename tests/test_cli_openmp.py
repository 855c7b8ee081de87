"""The lead-hf command waits passively in OpenMP unless told otherwise (issue 12: the demo's speed)."""
from __future__ import annotations

import os
import subprocess
import sys

PROBE = ("import os, sys; from lead_hf import cli; {before}cli.main(['--version']); "
         "print('policy=' + os.environ.get('OMP_WAIT_POLICY', '<unset>'))")


def _policy(before: str = "", **env) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], capture_output=True, text=True,
                         env={**clean, **env}, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("policy=")).removeprefix("policy=")


def test_the_cli_sets_passive_waiting_before_torch_loads():
    assert _policy() == "PASSIVE"


def test_a_policy_the_user_set_is_kept():
    assert _policy(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_nothing_is_set_once_torch_is_loaded():
    # the OpenMP runtime has read its environment already: setting the variable then would only leak
    assert _policy(before="import torch; ") == "<unset>"
