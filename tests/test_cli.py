"""The fanin command line, called in-process through ``cli.main(argv)``.

One test (marked slow) runs the installed console script in a subprocess, for what
only a real process shows: the entry point and a pipe closed by the reader.
"""

import contextlib
import importlib.util
import io
import json
import math
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fanin
from fanin import cli, stream


def run(capsys, *args):
    """(exit status, stdout, stderr) of ``fanin ARGS``."""
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("sample", "list", "info", "IDENTIFIER"):
        assert word in out
    with pytest.raises(SystemExit):
        cli.main(["sample", "--help"])
    out = capsys.readouterr().out
    for flag in ("--shape", "--dtype", "--seed", "--out", "--force", "--hist", "--plot"):
        assert flag in out


def test_sample_summary_and_file(capsys, tmp_path):
    path = tmp_path / "w.npy"
    status, out, _ = run(capsys, "sample", "lecun_normal", "--shape", "256", "64",
                         "--seed", "3", "--out", str(path))
    assert status == 0
    assert 'LecunNormal  {"seed": 3}' in out
    assert "fan_in       256" in out and "fan_out      64" in out
    # LeCun normal: std after truncation sqrt(1 / fan_in) = 1/16, bounds at
    # +-2 pre-truncation std = +-2 * (1/16) / 0.8796...
    assert "std after truncation 0.0625" in out
    assert f"bounds [{-2 / 16 / fanin.initializers.TRUNCATED_STDDEV:.6g}," in out
    assert f"wrote        {path}  (.npy)" in out
    assert np.array_equal(np.load(path), fanin.LecunNormal(seed=3)((256, 64)))


def test_out_is_exactly_the_path_given(capsys, tmp_path):
    path = tmp_path / "weights.bin"
    assert run(capsys, "sample", "ones", "--shape", "2", "--out", str(path))[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]
    assert np.load(path).tolist() == [1.0, 1.0]


def test_out_refuses_to_overwrite_without_force(capsys, tmp_path):
    path = tmp_path / "w.npy"
    path.write_bytes(b"keep me")
    status, _, err = run(capsys, "sample", "zeros", "--shape", "2", "--out", str(path))
    assert status == 2 and "--force" in err
    assert path.read_bytes() == b"keep me"
    assert run(capsys, "sample", "zeros", "--shape", "2", "--out", str(path), "--force")[0] == 0
    assert np.load(path).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name,msg", [("", "needs a file name"), (".", "is a directory")])
def test_out_that_is_no_file_name_is_an_error(capsys, tmp_path, monkeypatch, name, msg):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "sample", "zeros", "--shape", "2", "--out", name)
    assert status == 2 and msg in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_safetensors_by_suffix(capsys, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "w.safetensors"
    assert run(capsys, "sample", "he_normal", "--shape", "8", "4", "--seed", "1",
               "--out", str(path))[0] == 0
    assert np.array_equal(st.load_file(str(path))["weight"], fanin.HeNormal(seed=1)((8, 4)))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_torch_file_by_suffix(capsys, tmp_path, dtype):
    torch = pytest.importorskip("torch")
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes")
    path = tmp_path / "w.pt"
    assert run(capsys, "sample", "he_normal", "--shape", "8", "4", "--seed", "1",
               "--dtype", dtype, "--out", str(path))[0] == 0
    tensor = torch.load(path)
    want = fanin.HeNormal(seed=1)((8, 4), dtype).astype(np.float32)
    assert str(tensor.dtype) == f"torch.{dtype}"
    assert np.array_equal(tensor.float().numpy(), want)


def test_bfloat16_npy_is_exact_float32(capsys, tmp_path):
    ml = pytest.importorskip("ml_dtypes")
    path = tmp_path / "b.npy"
    status, out, _ = run(capsys, "sample", "he_normal", "--shape", "8", "8",
                         "--dtype", "bfloat16", "--seed", "0", "--out", str(path))
    assert status == 0 and "stored as float32" in out
    want = fanin.HeNormal(seed=0)((8, 8), ml.bfloat16).astype(np.float32)
    assert np.array_equal(np.load(path), want)


def test_drawn_seed_is_printed_and_reproduces(capsys, tmp_path):
    first, again = tmp_path / "a.npy", tmp_path / "b.npy"
    _, out, _ = run(capsys, "sample", "glorot_uniform", "--shape", "16", "8", "--out", str(first))
    seed = int(re.search(r"seed drawn: (\d+) \(pass --seed \1 to reproduce\)", out).group(1))
    assert f'{{"seed": {seed}}}' in out
    run(capsys, "sample", "glorot_uniform", "--shape", "16", "8", "--seed", str(seed),
        "--out", str(again))
    assert np.array_equal(np.load(first), np.load(again))


def test_seed_of_an_initializer_without_one_is_ignored_with_a_note(capsys):
    status, out, _ = run(capsys, "sample", "zeros", "--shape", "3", "--seed", "1")
    assert status == 0 and "ignored --seed: Zeros takes no seed" in out


def test_json_config_and_json_string_identifiers(capsys):
    config = json.dumps({"class_name": "VarianceScaling",
                         "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                    "seed": 1}})
    status, out, _ = run(capsys, "sample", config, "--shape", "3", "3", "8", "16")
    assert status == 0 and "fan_out      144" in out and "seed drawn" not in out
    status, out, _ = run(capsys, "sample", '"lecun_normal"', "--shape", "2", "--seed", "0")
    assert status == 0 and "LecunNormal" in out


@pytest.mark.parametrize("text,name", [("float", "float64"), ("double", "float64"),
                                       ("f4", "float32"), ("half", "float16")])
def test_dtype_means_what_numpy_means(capsys, text, name):
    status, out, _ = run(capsys, "sample", "normal", "--shape", "2", "--seed", "0",
                         "--dtype", text)
    assert status == 0 and f"dtype        {name}\n" in out


def test_scalar_shape(capsys):
    status, out, _ = run(capsys, "sample", "normal", "--shape", "--seed", "0")
    assert status == 0 and "shape        ()  (1 elements)" in out


def test_rate_line_is_warm_and_names_the_backend(capsys, backend):
    _, out, _ = run(capsys, "sample", "lecun_normal", "--shape", "64", "64", "--seed", "0")
    line = next(t for t in out.splitlines() if t.startswith("time"))
    assert "best of 3 warm fills of the array" in line
    assert ("compiled kernel" if backend == "kernel" else "NumPy reference") in line
    _, out, _ = run(capsys, "sample", "zeros", "--shape", "4")
    assert "NumPy, no stream" in out


def test_histogram_counts_every_value_beside_the_expected_counts(capsys):
    status, out, _ = run(capsys, "sample", "uniform", "--shape", "10000", "--seed", "0", "--hist")
    rows = [t for t in out.splitlines() if " | " in t]
    assert status == 0 and len(rows) == 24
    counts = [int(re.search(r" (\d+)  \(expected", t).group(1)) for t in rows]
    expected = [float(re.search(r"expected ([\d.]+)\)", t).group(1)) for t in rows]
    assert sum(counts) == 10000
    # uniform on [-0.05, 0.05): a bin of width w expects n * w / 0.1 values; the bins
    # split [min, max] of the values (call 0, as the command draws) in 24
    values = fanin.RandomUniform(seed=0)((10000,)).astype(np.float64)
    want = 10000 * (values.max() - values.min()) / 24 / 0.1
    assert all(abs(e - want) <= 0.05 + 1e-9 for e in expected)  # printed to 0.1


def test_histogram_of_few_values_has_few_bins(capsys):
    _, out, _ = run(capsys, "sample", "normal", "--shape", "5", "--seed", "0", "--hist")
    assert len([t for t in out.splitlines() if " | " in t]) == 2  # floor(sqrt(5))


def test_exact_moments_and_density_match_scipy():
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    dist = stream.truncated_normal(0.5, 2.0)
    mean, std = cli._moments_of(dist)
    assert math.isclose(mean, 0.5, abs_tol=1e-12)
    assert math.isclose(std, truncnorm.std(-2, 2, loc=0.5, scale=2.0), rel_tol=1e-12)
    x = np.linspace(-4.0, 5.0, 37)
    assert np.allclose(cli._pdf(dist, x), truncnorm.pdf(x, -2, 2, loc=0.5, scale=2.0))
    assert np.allclose(cli._cdf(dist, x), truncnorm.cdf(x, -2, 2, loc=0.5, scale=2.0))
    u = stream.uniform(-1.0, 3.0)
    assert cli._moments_of(u) == (1.0, 4.0 / math.sqrt(12.0))


def test_plot_renders_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "h.png"
    status, out, _ = run(capsys, "sample", "lecun_normal", "--shape", "784", "256",
                         "--seed", "0", "--plot", str(path))
    assert status == 0 and f"plotted      {path}" in out
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (770, 462)  # figsize (7, 4.2) inches at 110 dpi


@pytest.mark.parametrize("name,shape", [("lecun_normal", ["1000", "3", "4"]),
                                        ("uniform", ["7"]), ("zeros", ["5", "2"])])
def test_progress_draws_the_same_values(capsys, tmp_path, name, shape):
    plain, blocks = tmp_path / "a.npy", tmp_path / "b.npy"
    run(capsys, "sample", name, "--shape", *shape, "--seed", "4", "--out", str(plain))
    status, _, err = run(capsys, "sample", name, "--shape", *shape, "--seed", "4",
                         "--out", str(blocks), "--progress")
    assert status == 0 and np.array_equal(np.load(plain), np.load(blocks))
    if name != "zeros":
        assert "drawing 100%" in err


def test_broken_pipe_exits_quietly(capsys, monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["sample", "normal", "--shape", "3", "--seed", "0"]) == 141
    assert capsys.readouterr().err == ""


def test_list_shows_every_class_alias_and_kind(capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    rows = {t.split()[0]: (t.split()[1], {a.strip(",") for a in t.split()[2:]})
            for t in out.splitlines()[1:]}
    assert set(rows) == set(fanin.registry.CLASSES)
    assert rows["LecunNormal"] == ("random", {"lecun_normal", "LecunNormalV2"})
    assert rows["Zeros"][0] == "constant" and {"zeros", "zero"} <= rows["Zeros"][1]
    assert rows["Orthogonal"][0] == "matrix"


@pytest.mark.slow  # imports Keras, in a child: here it would make later tests' objects Keras-side
def test_info_describes_the_core_class_when_an_adapter_is_loaded():
    if importlib.util.find_spec("keras") is None:  # importorskip would import it here
        pytest.skip("keras is not installed")
    code = ("import fanin.keras, sys; from fanin import cli; "
            "sys.exit(cli.main(['info', 'orthogonal']))")
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "QR decomposition" in r.stdout and "OrthogonalV2" in r.stdout


def test_info_gives_config_fans_and_formula(capsys):
    status, out, _ = run(capsys, "info", "lecun_normal", "--shape", "784", "256")
    assert status == 0
    assert 'config       {"seed": null}' in out and "fan rule" in out
    assert "fan_in 784, fan_out 256" in out
    assert f"std {1 / 28:.6g}" in out  # sqrt(1 / 784)
    assert "std after truncation = sqrt(1.0 / fan_in)" in out
    _, out, _ = run(capsys, "info", "he_uniform")
    assert "limit = sqrt(3 * 2.0 / fan_in)" in out
    status, out, _ = run(capsys, "info", "orthogonal")
    assert status == 0 and "QR decomposition" in out


@pytest.mark.parametrize("args,msg", [
    (["sample", "nonsense", "--shape", "3"], "Unknown initializer 'nonsense'"),
    (["sample", "lecun_normall", "--shape", "3"], "Did you mean 'lecun_normal'"),
    (["sample", "lecun_normal", "--shape", "3", "--dtype", "int32"], "floating point"),
    (["sample", "lecun_normal", "--shape", "-3"], "negative"),
    (["sample", "lecun_normal", "--shape", "100000", "100000", "100000"], "GiB"),
    (["sample", '{"class_name": ', "--shape", "3"], "Could not interpret"),
    (["info", "he_normall"], "Did you mean 'he_normal'")])
def test_errors_are_messages_not_tracebacks(capsys, args, msg):
    status, _, err = run(capsys, *args)
    assert status == 2
    assert err.startswith("fanin: error: ") and msg in err


@pytest.mark.slow
def test_console_script_runs_and_stops_quietly_on_a_closed_pipe():
    script = shutil.which("fanin")
    command = [script] if script else [sys.executable, "-m", "fanin.cli"]
    args = [*command, "sample", "lecun_normal", "--shape", "20", "5", "--seed", "0"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('initializer  LecunNormal  {"seed": 0}')
    # The reader goes away before the command writes (as `| head -1` can):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


# --------------------------------------------------------------------------- #
# python -m fanin, torch names, info, histogram labels, the rate line
# --------------------------------------------------------------------------- #


def test_python_dash_m_fanin_is_the_command(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["fanin", "--help"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("fanin", run_name="__main__")
    assert exc.value.code == 0 and "sample" in capsys.readouterr().out


@pytest.mark.parametrize("torch_name,fanin_name", [
    ("xavier_uniform", "glorot_uniform"), ("xavier_normal_", "glorot_normal"),
    ("kaiming_uniform", "he_uniform"), ("kaiming_normal", "he_normal"),
    ("trunc_normal_", "truncated_normal"), ("eye", "identity")])
def test_torch_names_point_to_their_fanin_family(capsys, torch_name, fanin_name):
    status, _, err = run(capsys, "sample", torch_name, "--shape", "3", "3")
    assert status == 2 and err.count("\n") == 1
    assert f"fanin's initializer of that family is '{fanin_name}'" in err
    assert f"fanin.torch.{torch_name.rstrip('_')}_" in err
    assert run(capsys, "sample", fanin_name, "--shape", "3", "3", "--seed", "0")[0] == 0


@pytest.mark.parametrize("name", sorted(fanin.registry.CLASSES))
def test_info_is_plain_text_for_every_initializer(capsys, name):
    status, out, _ = run(capsys, "info", name, "--shape", "4", "4")
    assert status == 0
    assert not re.search(r"``|:(class|meth|func|mod|attr|data):`", out), out
    assert "at shape     (4, 4)" in out


def test_info_honours_the_shape_of_matrix_and_constant_initializers(capsys):
    _, out, _ = run(capsys, "info", "orthogonal", "--shape", "3", "4")
    assert "a 3 x 4 matrix" in out and "orthonormal rows" in out
    _, out, _ = run(capsys, "info", "orthogonal", "--shape", "2", "3", "4")
    assert "a 6 x 4 matrix" in out and "orthonormal columns" in out
    _, out, _ = run(capsys, "info", '{"class_name": "Identity", "config": {"gain": 2}}',
                    "--shape", "3", "5")
    assert "2 on the diagonal of a 3 x 5 matrix" in out
    _, out, _ = run(capsys, "info", "ones", "--shape", "7", "2")
    assert "14 elements, every one 1.0" in out
    status, _, err = run(capsys, "info", "identity", "--shape", "2", "2", "2")
    assert status == 2 and "2D" in err


def _labels(out):
    return [t.split(" | ")[0] for t in out.splitlines() if " | " in t]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.sampled_from(["normal", "uniform", "truncated_normal", "lecun_normal"]),
       st.integers(-30, 30), st.integers(4, 3000))
def test_histogram_labels_share_one_format(name, exponent, size):
    scale = 10.0 ** exponent
    config = {"normal": {"stddev": scale}, "uniform": {"minval": -scale, "maxval": scale},
              "truncated_normal": {"stddev": scale}, "lecun_normal": {}}[name]
    identifier = json.dumps({"class_name": fanin.registry.NAMES[name].__name__,
                             "config": config})
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli.main(["sample", identifier, "--shape", str(size), "--seed", "1",
                         "--dtype", "float64", "--hist"]) == 0
    labels = _labels(out.getvalue())
    assert len({len(t) for t in labels}) == 1  # aligned
    stripped = [t.strip() for t in labels]
    fixed = [re.fullmatch(r"[+-]\d+(?:\.(\d+))?", t) for t in stripped]
    if all(fixed):  # fixed point, the same number of decimals throughout
        assert len({len(m.group(1) or "") for m in fixed}) == 1
    else:  # scientific, the same number of digits throughout
        sci = [re.fullmatch(r"[+-]\d\.(\d+)e[+-]\d+", t) for t in stripped]
        assert all(sci) and len({len(m.group(1)) for m in sci}) == 1, stripped
    values = [float(t) for t in stripped]
    assert values == sorted(values) and len(set(values)) == len(values)  # neighbours differ


def test_histogram_labels_of_the_finding(capsys):
    _, out, _ = run(capsys, "sample", "lecun_normal", "--shape", "784", "256", "--seed", "0",
                    "--hist")
    labels = [t.strip() for t in _labels(out)]
    assert all(re.fullmatch(r"[+-]0\.\d{4}", t) for t in labels), labels


def test_rate_line_of_a_large_tensor_is_a_warm_fill(capsys):
    _, out, _ = run(capsys, "sample", "lecun_normal", "--shape", "2048", "2048", "--seed", "0")
    line = next(t for t in out.splitlines() if t.startswith("time"))
    assert re.search(r"best of [123] warm fills? of the array", line), line


# --------------------------------------------------------------------------- #
# Degenerate distributions: a summary, a histogram and a plot, no traceback
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("config", [
    {"class_name": "TruncatedNormal", "config": {"mean": 0.5, "stddev": 0}},
    {"class_name": "RandomNormal", "config": {"mean": -1.0, "stddev": 0}},
    {"class_name": "RandomUniform", "config": {"minval": 0.25, "maxval": 0.25}}])
def test_zero_width_distributions_summarize_and_plot(capsys, tmp_path, config):
    loc = config["config"].get("mean", config["config"].get("minval"))
    plot = tmp_path / "h.png"
    args = ["sample", json.dumps(config), "--shape", "50", "--seed", "0", "--hist"]
    if importlib.util.find_spec("matplotlib") is not None:
        args += ["--plot", str(plot)]
    status, out, err = run(capsys, *args)
    assert status == 0, err
    assert f"mean {loc:.6g}," in out and " 0, " in out.split("expected", 1)[1]
    assert "(expected 50.0)" in out  # every value in the bin holding loc
    for command in ("sample", "info"):
        assert run(capsys, command, json.dumps(config), "--shape", "5")[0] == 0
    if "--plot" in args:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- #
# Files: written whole or not at all; every argument checked first
# --------------------------------------------------------------------------- #


def test_a_failed_write_leaves_the_old_file_even_with_force(capsys, tmp_path, monkeypatch):
    path = tmp_path / "old.npy"
    np.save(path, np.zeros(4, np.float32))
    before = path.read_bytes()

    def fails_halfway(f, values):
        f.write(b"\x93NUMPY partial")
        raise OSError(27, "File too large")

    monkeypatch.setattr(cli, "_write_npy", fails_halfway)
    status, out, err = run(capsys, "sample", "lecun_normal", "--shape", "100", "100",
                           "--seed", "0", "--out", str(path), "--force")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"fanin: error: writing {str(path)!r} failed ([Errno 27] File too large)")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npy"]  # no temporary left


def test_written_files_get_the_usual_permissions(capsys, tmp_path):
    path = tmp_path / "w.npy"
    assert run(capsys, "sample", "ones", "--shape", "2", "--out", str(path))[0] == 0
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.slow  # a child process under a file-size limit, as a full disk would act
def test_a_size_limit_cannot_truncate_the_old_file(tmp_path):
    resource = pytest.importorskip("resource")
    path = tmp_path / "old.npy"
    np.save(path, np.zeros(4, np.float32))
    before = path.read_bytes()

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))

    done = subprocess.run([sys.executable, "-m", "fanin", "sample", "lecun_normal", "--shape",
                           "1000", "1000", "--seed", "0", "--out", str(path), "--force"],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"fanin: error: writing {str(path)!r} failed")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npy"]


def test_plot_is_checked_before_out_is_written(capsys, tmp_path):
    (tmp_path / "h.png").write_bytes(b"old plot")
    status, _, err = run(capsys, "sample", "normal", "--shape", "9", "--seed", "0",
                         "--out", str(tmp_path / "w.npy"), "--plot", str(tmp_path / "h.png"))
    assert status == 2 and "--plot" in err and "--force" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png"]
    assert (tmp_path / "h.png").read_bytes() == b"old plot"


def test_missing_folder_is_named(capsys, tmp_path):
    target = tmp_path / "nowhere" / "w.npy"
    status, _, err = run(capsys, "sample", "zeros", "--shape", "2", "--out", str(target))
    assert status == 2 and "the folder" in err and "does not exist" in err


# Bad arguments, generated: each is refused with exit status 2 and one stderr line
# naming it, and no file is created or changed.
_NAMES = set(fanin.registry.NAMES)


def _numeric_dtype(text):
    """Whether fanin's command takes ``text`` as --dtype (NumPy's reading, or fanin's)."""
    try:
        dt = np.dtype(text)
    except Exception:
        try:
            fanin.dtypes.dtype_name(text)
            return True
        except (TypeError, ValueError):
            return False
    return dt.kind in "biufc" and dt.fields is None and dt.shape == ()


def _an_int(text):
    """Whether argparse's ``type=int`` takes ``text`` (as int() does: " 3", "1_0")."""
    try:
        int(text)
        return True
    except ValueError:
        return False


_word = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
_not_option = _word.filter(lambda t: not t.startswith("-"))
_bad_value = st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))
_BAD = st.one_of(
    st.tuples(st.just("--dtype"), _not_option.filter(lambda t: not _numeric_dtype(t))),
    st.tuples(st.just("--shape"), st.integers(max_value=-1).map(str)),
    st.tuples(st.just("--shape"), _not_option.filter(lambda t: not _an_int(t))),
    st.tuples(st.just("--seed"), _not_option.filter(lambda t: not _an_int(t))),
    st.tuples(st.just("identifier"), _not_option.filter(
        lambda t: t.strip() not in _NAMES and not t.strip().startswith(("{", '"')))),
    st.tuples(st.just("config"), st.fixed_dictionaries({
        "class_name": st.sampled_from(["RandomNormal", "TruncatedNormal", "RandomUniform",
                                       "VarianceScaling", "Orthogonal"]),
        "config": st.dictionaries(st.sampled_from(["mean", "stddev", "minval", "scale",
                                                   "gain", "bogus"]),
                                  _bad_value, min_size=1, max_size=2)})),
    st.tuples(st.just("--out"), st.sampled_from(["old.npy", "nowhere/w.npy", ".", ""])),
    st.tuples(st.just("--plot"), st.sampled_from(["old.png", "nowhere/h.png", "w.npy"])),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_BAD)
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(bad):
    what, value = bad
    args = {"identifier": "lecun_normal", "--shape": ["6", "5"], "--seed": "0",
            "--out": "w.npy"}
    if what == "config":
        args["identifier"] = json.dumps(value)
    elif what == "identifier":
        args["identifier"] = value
    else:
        args[what] = [value] if what == "--shape" else value
    with tempfile.TemporaryDirectory() as folder:
        old = {"old.npy": b"old tensor", "old.png": b"old plot"}
        for name, data in old.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        argv = ["sample", args.pop("identifier")]
        for flag, v in args.items():
            argv += [flag, *v] if isinstance(v, list) else [flag, os.path.join(folder, v)
                                                            if flag in ("--out", "--plot")
                                                            and v else v]
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                status = cli.main(argv)
            except SystemExit as exc:  # argparse's own refusals
                status = exc.code
        assert status == 2, (argv, out.getvalue(), err.getvalue())
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and "error: " in lines[0], err.getvalue()
        assert out.getvalue() == ""
        files = {name: open(os.path.join(folder, name), "rb").read()
                 for name in os.listdir(folder)}
        assert files == old, argv


@pytest.mark.parametrize("text", ["01", "f4,", "i4,i4", "(2,)f4", "floaty", "S3", "O", "M8"])
def test_a_bad_dtype_is_named_as_typed(capsys, text):
    status, out, err = run(capsys, "sample", "lecun_normal", "--shape", "2", "--dtype", text)
    assert status == 2 and out == ""
    assert err == (f"fanin: error: --dtype {text!r} is not a numeric dtype (try float32, "
                   "float16, bfloat16 or float64).\n")
