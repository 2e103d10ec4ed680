"""Checks that run in child processes, one framework configuration per process.

Keras fixes its backend per process and TensorFlow is slow to import, so the
Keras test files run their checks in children (the test file run as a script)
and report each check's outcome as JSON; the pytest process never imports a
framework. A check passes by returning, is skipped by raising :class:`Skip`
and is an expected failure by raising :class:`XFail`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT = 420

class Skip(Exception):
    """A check that does not apply to this configuration."""


class XFail(Exception):
    """A check that fails for a documented reason (see its message)."""


def registry():
    """A decorator collecting checks by name, and the dict it fills."""
    checks = {}

    def check(fn):
        checks[fn.__name__] = fn
        return fn
    return check, checks


def run_checks(checks, ctx, result_path):
    """Run every check (in the child), writing {name: outcome} to ``result_path``."""
    results = {}
    for name, fn in checks.items():
        try:
            fn(ctx)
            results[name] = "ok"
        except Skip as err:
            results[name] = f"skip: {err}"
        except XFail as err:
            results[name] = f"xfail: {err}"
        except Exception:  # noqa: BLE001 - reported to the parent test
            results[name] = traceback.format_exc()
    Path(result_path).write_text(json.dumps(results))


def child_env(**extra):
    """Environment of a child: this checkout first on the path, CPU only, quiet TF."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, FANIN_NO_KERNEL_WARNING="1", PYTHONPATH=path,
                TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="",
                **extra)


def spawn(args, cwd, **env):
    """Start ``python -W ignore ARGS`` in ``cwd``; output captured."""
    return subprocess.Popen([sys.executable, "-W", "ignore", *map(str, args)],
                            env=child_env(**env), cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def collect(procs):
    """{key: results} for {key: (process, result path)}, waiting for each."""
    results = {}
    for key, (proc, path) in procs.items():
        try:
            output, _ = proc.communicate(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        path = Path(path)
        results[key] = (json.loads(path.read_text()) if path.exists()
                        else {"__crash__": output[-4000:]})
    return results


def outcome(results, key, name):
    """Turn one check's reported outcome into a pytest outcome."""
    got = results[key]
    if "__crash__" in got:
        pytest.fail(f"the child process {key} crashed:\n{got['__crash__']}")
    status = got.get(name, f"check {name} did not run")
    if status.startswith("skip: "):
        pytest.skip(status[6:])
    if status.startswith("xfail: "):
        pytest.xfail(status[7:])
    assert status == "ok", f"[{key}] {name}:\n{status}"


def same_bits(a, b):
    """Equal shape, dtype and bytes."""
    import numpy as np
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes(), "values differ"


def truncated_kurtosis(bound=2.0):
    """Kurtosis E[x^4] / E[x^2]^2 of a standard normal truncated to [-bound, bound].

    With Z = P(|x| < bound) and phi the normal density, integration by parts
    gives E[x^2] = 1 - 2 bound phi(bound) / Z and E[x^4] = 3 E[x^2] - 2 bound^3
    phi(bound) / Z.
    """
    phi = math.exp(-bound * bound / 2) / math.sqrt(2 * math.pi)
    z = math.erf(bound / math.sqrt(2))
    m2 = 1 - 2 * bound * phi / z
    m4 = 3 * m2 - 2 * bound ** 3 * phi / z
    return m4 / (m2 * m2)


def std_tolerance(sigma, n, kurtosis, sigmas=5.0):
    """``sigmas`` standard errors of the sample std of ``n`` iid values.

    The delta method gives Var(s) ~ sigma^2 (kurtosis - 1) / (4 n).
    """
    return sigmas * sigma * math.sqrt((kurtosis - 1) / (4 * n))
