"""The fanin::fill operator: one PyTorch operator behind every fanin.torch fill.

It is a pure function of its arguments (the draw travels in them), so eager,
torch.compile, meta and fake tensors, and the host-staged route of other devices
all agree with the NumPy reference bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402
from fanin import stream  # noqa: E402
from fanin.torch import write  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def bits(t):
    t = t.detach().contiguous()
    ints = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.view(ints) if t.dtype.is_floating_point else t


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(bits(a), bits(b))


def _calls(w):
    """A function body that calls fanin.torch functions of both families."""
    ft.normal_(w[0], std=0.02, seed=0)
    ft.lecun_normal_(w[1:3], seed=1)
    ft.trunc_normal_(w[3], std=0.02, seed=2)
    ft.zeros_(w[4])
    return w * 2


def test_operator_schema_carries_the_draw():
    schema = str(torch.ops.fanin.fill.default._schema)
    assert schema == ("fanin::fill(Tensor(a0!) out, str draw, SymInt[] offset, SymInt[] axes) "
                      "-> ()")
    d = fanin.HeNormal(seed=3).draw((5, 7), "bfloat16")
    t = torch.empty(7, 5, dtype=torch.bfloat16)  # the Keras draw, transposed
    torch.ops.fanin.fill(t, write.encode_draw(d), [0, 0], [1, 0])
    assert np.array_equal(bits(t).numpy(), d.array().view(np.uint16).T.astype(np.int16))
    block = torch.empty(2, 3, dtype=torch.bfloat16)  # a block of it, at its offset
    torch.ops.fanin.fill(block, write.encode_draw(d), [1, 2], [])
    assert np.array_equal(bits(block).numpy(), d.block((1, 2), (2, 3)).view(np.int16))


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(key=st.integers(0, 2**64 - 1), call=st.integers(0, 2**64 - 1), a=finite, b=finite,
       shape=st.lists(st.integers(0, 5), max_size=3).map(tuple))
def test_draws_cross_the_operator_boundary_bit_for_bit(key, call, a, b, shape):
    """Every field survives the encoding: 64-bit keys, -0.0, subnormals, the largest floats."""
    dists = [stream.uniform(min(a, b), max(a, b)), stream.normal(a, abs(b))]
    for dist in dists:
        d = fanin.StreamDraw(shape, "float32", key=key, call=call, distribution=dist)
        back = write.decode_draw(write.encode_draw(d))
        assert back == d
        for x, y in zip((dist.loc, dist.scale), (back.distribution.loc, back.distribution.scale)):
            assert math.copysign(1.0, x) == math.copysign(1.0, y)  # the sign of zeros too


def test_every_draw_kind_crosses_the_boundary():
    draws = [fanin.Orthogonal(seed=1).draw((4, 3)), fanin.Identity(2.0).draw((3, 3)),
             fanin.Constant(-0.0).draw((2,)), fanin.RandomUniform(-3, 9, seed=2).draw((4,), "int32"),
             ft.nn_init.SparseDraw((4, 3), "float32", values=fanin.RandomNormal(seed=0).draw((4, 3)),
                                   zeros_per_column=1),
             ft.nn_init.DiracDraw((4, 2, 3), "float32", groups=2)]
    for d in draws:
        assert write.decode_draw(write.encode_draw(d)) == d
    with pytest.raises(ValueError, match="unknown class"):
        write.decode_draw('{"class": "os.system", "fields": {}}')


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compiled_function_equals_eager(backend):
    """Both families compile; Dynamo breaks the graph where it cannot follow fanin's
    host-side preparation (NumPy scalars, initializer objects), and the fills are the
    operator either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dynamo's notes about cached helpers it traces
        eager = _calls(torch.full((5, 6, 4), math.nan))
        compiled = torch.compile(_calls, backend=backend)
        assert same(compiled(torch.full((5, 6, 4), math.nan)), eager)


def test_the_operator_traces_into_one_graph():
    spec = write.encode_draw(fanin.HeNormal(seed=2).draw((4, 6)))

    def f(w):
        torch.ops.fanin.fill(w, spec, [0, 0], [1, 0])
        return w + 1
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm
    got = torch.compile(f, backend=backend, fullgraph=True)(torch.empty(6, 4))
    assert len(graphs) == 1 and "fanin.fill" in graphs[0].code
    assert same(got, f(torch.empty(6, 4)))


@pytest.mark.slow
def test_inductor_compiled_function_and_module_init_equal_eager():
    eager = _calls(torch.full((5, 6, 4), math.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert same(torch.compile(_calls)(torch.full((5, 6, 4), math.nan)), eager)
        net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
        torch.compile(lambda m: ft.init_module_(m, seed=0), backend="eager")(net)
    ref = ft.init_module_(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)), seed=0)
    for a, b in zip(net.parameters(), ref.parameters()):
        assert same(a, b)


@pytest.mark.slow
def test_hf_style_init_weights_under_compile():
    """nn.init-style use (as in transformers' ``_init_weights``), compiled."""
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x)

    def init_weights(module):
        if isinstance(module, torch.nn.Linear):
            ft.normal_(module.weight, mean=0.0, std=0.02, seed=5)
            if module.bias is not None:
                ft.zeros_(module.bias)
    a, b = Block(), Block()
    a.apply(init_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.compile(init_weights, backend="eager")(b.fc)
    assert same(a.fc.weight, b.fc.weight) and same(a.fc.bias, b.fc.bias)


@pytest.mark.parametrize("dtype", DTYPES)
def test_meta_and_fake_tensors_take_the_shape_only(dtype):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    meta = torch.empty(6, 4, dtype=dtype, device="meta")
    d = fanin.LecunNormal(seed=0).draw((4, 6), write.dtypes.dtype_name(dtype))
    torch.ops.fanin.fill(meta, write.encode_draw(d), [0, 0], [1, 0])  # no computation
    with FakeTensorMode():
        fake = torch.empty(6, 4, dtype=dtype)
        assert ft.lecun_normal_(fake, seed=0) is fake
        assert ft.uniform_(fake, -1.0, 1.0, seed=0) is fake
        ft.init_module_(torch.nn.Linear(4, 6, dtype=dtype), seed=0)
    assert torch.equal(torch.get_rng_state(), state)


class _Recorder(TorchDispatchMode):
    """Sees every operator call: under it, plain eager tensors dispatch fanin::fill too."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dispatched_operator_equals_the_eager_route(dtype):
    """Plain eager CPU tensors call the operator's CPU kernel directly (no dispatch
    cost); through the dispatcher the operator gives the same bits."""
    fills = [lambda t: ft.glorot_uniform_(t, seed=1), lambda t: ft.trunc_normal_(t, std=.02, seed=2),
             lambda t: ft.orthogonal_(t, seed=3), lambda t: ft.sparse_(t, 0.2, seed=4),
             lambda t: ft.identity_(t), lambda t: ft.he_normal_(t[:, ::2], seed=5)]
    for fill in fills:
        want = fill(torch.zeros(12, 10, dtype=dtype))
        with _Recorder() as seen:
            got = fill(torch.zeros(12, 10, dtype=dtype))
        assert "fanin.fill.default" in seen.ops
        assert same(got, want)
        # parameters (nn.Parameter: no dispatch of its own) take the direct route too
        param = torch.nn.Parameter(torch.zeros(12, 10, dtype=dtype))
        assert same(fill(param).detach(), want)


def test_parameters_take_the_direct_route(monkeypatch):
    """A plain parameter, as init_module_ writes them, never pays the dispatcher and
    the draw's encoding (~80 us a parameter); a tensor subclass does."""
    from fanin.torch import write

    encoded, encode = [], write.encode_draw
    monkeypatch.setattr(write, "encode_draw", lambda d: encoded.append(d) or encode(d))
    ft.init_module_(torch.nn.Linear(5, 3), seed=0)
    assert encoded == []

    class Tagged(torch.Tensor):  # a subclass that dispatches: the operator route
        pass

    ft.normal_(torch.zeros(4).as_subclass(Tagged), seed=0)
    assert len(encoded) == 1


def test_writes_bump_autograd_versions_and_keep_parameters_leaves():
    for write in (lambda p: ft.glorot_uniform_(p, seed=0), lambda p: ft.normal_(p, seed=0),
                  lambda p: ft.eye_(p), lambda p: ft.constant_(p, 2.0)):
        p = torch.nn.Parameter(torch.zeros(4, 3))
        version = p._version
        write(p)
        assert p._version > version and p.is_leaf and p.requires_grad and p.grad is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_host_staged_route_equals_in_place(dtype):
    """The route of CUDA without Triton and of other devices: host chunks, copied in."""
    shapes = [(7, 5), (3, 4, 2, 2), (1000,), (2, 3000)]
    for shape in shapes:
        fills = [lambda t: ft.he_uniform_(t, seed=3), lambda t: ft.normal_(t, seed=3)]
        if len(shape) > 1:
            fills.append(lambda t: ft.orthogonal_(t, seed=3))
        for fill in fills:
            want = fill(torch.empty(shape, dtype=dtype))
            with pytest.MonkeyPatch.context() as mp, write.staged_on_cpu():
                mp.setattr(write, "STAGE_BYTES", 256)  # many chunks
                got = fill(torch.empty(shape, dtype=dtype))
            assert same(got, want), shape


TRITON_CHILD = """
import numpy as np, torch, fanin
from fanin.torch import write
d = fanin.HeNormal(seed=4).draw((6, 5), "bfloat16")
assert write.triton_fill(torch.device("cpu")) is not None
for axes, shape in (((1, 0), (5, 6)), ((), (6, 5))):
    t = torch.empty(shape, dtype=torch.bfloat16)
    write._fill_cuda(t, d, (0, 0), axes)
    want = d.array().view(np.uint16).astype(np.int16)
    assert np.array_equal(t.view(torch.int16).numpy(), want.T if axes else want), axes
print("ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_cuda_route_with_the_real_triton_kernel_interpreted():
    """The CUDA route through fanin.stream.triton, run by Triton's CPU interpreter."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    out = subprocess.run([sys.executable, "-c", TRITON_CHILD], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_triton_hook_is_used_when_present(monkeypatch):
    """CUDA's route: the Triton kernel's entry point gets each (contiguous) plan."""
    plans = []

    def fake_kernel(out, plan):
        plans.append(plan)
        ref = np.empty(plan.block, plan.fmt)
        stream.fill(ref, plan)
        out.copy_(torch.from_numpy(ref))
    monkeypatch.setattr(write, "triton_fill", lambda device: fake_kernel)
    d = fanin.GlorotNormal(seed=1).draw((6, 5))
    t = torch.empty(5, 6)
    write._fill_cuda(t, d, (0, 0), (1, 0))  # permuted: device tiles, then a transposing copy
    assert same(t, torch.from_numpy(d.array().T.copy()))
    assert plans and all(p.key == d.key and p.call == d.call for p in plans)
    c = torch.empty(6, 5)
    write._fill_cuda(c, d, (0, 0), ())
    assert same(c, torch.from_numpy(d.array())) and plans[-1].block == (6, 5)
