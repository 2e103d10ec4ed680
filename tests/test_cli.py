"""The fanin command line, run as a user runs it."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fanin
from fanin import cli


def run(*args):
    return subprocess.run([sys.executable, "-m", "fanin.cli", *args],
                          capture_output=True, text=True)


def test_help_explains_the_command():
    out = run("--help").stdout
    assert "sample" in out and "IDENTIFIER" in out
    out = run("sample", "--help").stdout
    for flag in ("--shape", "--dtype", "--seed", "--out", "--hist"):
        assert flag in out


def test_sample_summary_and_file(tmp_path):
    path = tmp_path / "w.npy"
    res = run("sample", "lecun_normal", "--shape", "256", "64", "--seed", "3",
              "--out", str(path))
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert 'LecunNormal  {"seed": 3}' in text
    assert "fan_in       256" in text and "fan_out      64" in text
    assert "expected     std 0.0625" in text and "bounds" in text
    assert "measured     mean" in text and "time" in text
    saved = np.load(path)
    assert np.array_equal(saved, fanin.LecunNormal(seed=3)((256, 64)))


def test_json_config_identifier_and_dtype(tmp_path):
    config = json.dumps({"class_name": "VarianceScaling",
                         "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                    "seed": 1}})
    res = run("sample", config, "--shape", "3", "3", "8", "16", "--dtype", "float64")
    assert res.returncode == 0, res.stderr
    assert "fan_out      144" in res.stdout and "dtype        float64" in res.stdout


def test_bfloat16_file_is_exact_float32(tmp_path):
    ml = pytest.importorskip("ml_dtypes")
    path = tmp_path / "b.npy"
    assert cli.main(["sample", "he_normal", "--shape", "8", "8", "--dtype", "bfloat16",
                     "--seed", "0", "--out", str(path)]) == 0
    want = fanin.HeNormal(seed=0)((8, 8), ml.bfloat16).astype(np.float32)
    assert np.array_equal(np.load(path), want)


def test_histogram(capsys):
    assert cli.main(["sample", "uniform", "--shape", "1000", "--seed", "0", "--hist"]) == 0
    assert capsys.readouterr().out.count("|") == 24


@pytest.mark.parametrize("args,msg", [
    (["sample", "nonsense", "--shape", "3"], "Unknown initializer"),
    (["sample", "zeros", "--shape", "3", "--seed", "1"], "takes no seed"),
    (["sample", "lecun_normal", "--shape", "3", "--dtype", "int32"], "floating point"),
    (["sample", "lecun_normal", "--shape", "-3"], "negative"),
    (["sample", "lecun_normal", "--shape", "100000", "100000", "100000"], "GiB")])
def test_errors_are_messages_not_tracebacks(args, msg):
    res = run(*args)
    assert res.returncode == 2
    assert msg in res.stderr and "Traceback" not in res.stderr


def test_console_script_entry_point_declared():
    import tomllib
    from pathlib import Path
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["fanin"] == "fanin.cli:main"
