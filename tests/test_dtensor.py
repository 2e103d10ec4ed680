"""fanin.torch on DTensors: each rank fills its own shard; full_tensor() == one device.

The multi-process tests spawn real torch.distributed processes (gloo, a file
store, sockets on the loopback interface) with ``torch.multiprocessing.spawn``;
each group of checks runs in one spawn so a case stays well under a minute.
The index arithmetic is checked in-process against torch's own (private)
``_compute_local_shape_and_global_offset``, with hypothesis.
"""

import datetime
import math
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import torch.distributed as dist  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.distributed.device_mesh import init_device_mesh  # noqa: E402
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor  # noqa: E402
from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset  # noqa: E402
from torch.distributed.tensor.placement_types import _StridedShard  # noqa: E402

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402
from fanin.torch import dtensor as ft_dtensor  # noqa: E402

# --------------------------------------------------------------------------- #
# Index arithmetic, in-process, against torch's own
# --------------------------------------------------------------------------- #


@st.composite
def _layouts(draw):
    """A global shape, a mesh shape, a coordinate in it and one placement per mesh dim."""
    shape = draw(st.lists(st.integers(0, 13), min_size=1, max_size=3))
    mesh_shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    coordinate = [draw(st.integers(0, n - 1)) for n in mesh_shape]
    dims = st.integers(0, len(shape) - 1)
    placement = st.one_of(st.just(Replicate()), st.builds(Shard, dims),
                          st.builds(lambda d, f: _StridedShard(d, split_factor=f), dims,
                                    st.integers(1, 4)))
    placements = [draw(placement) for _ in mesh_shape]
    return tuple(shape), tuple(mesh_shape), coordinate, placements


@settings(max_examples=300, deadline=None)
@given(_layouts())
def test_held_indices_match_torch(layout):
    shape, mesh_shape, coordinate, placements = layout
    held = ft_dtensor.held_indices(shape, mesh_shape, coordinate, placements)
    local_shape, offset = _compute_local_shape_and_global_offset(shape, mesh_shape, coordinate,
                                                                 placements)
    assert tuple(len(ix) for ix in held) == tuple(local_shape)
    # torch reports the first held index of each dim (the dim's size when none is held)
    assert tuple(int(ix[0]) if len(ix) else n for ix, n in zip(held, shape)) == tuple(offset)


def test_held_indices_strided_example():
    # The example of torch's _StridedShard docstring: 8 rows on a (dp=2, tp=2) mesh,
    # [_StridedShard(0, split_factor=2), Shard(0)]: rank (0, 1) holds rows 4-5, (1, 0) rows 2-3.
    placements = [_StridedShard(0, split_factor=2), Shard(0)]
    rows = {c: ft_dtensor.held_indices((8,), (2, 2), c, placements)[0].tolist()
            for c in [(0, 0), (0, 1), (1, 0), (1, 1)]}
    assert rows == {(0, 0): [0, 1], (0, 1): [4, 5], (1, 0): [2, 3], (1, 1): [6, 7]}


def test_held_indices_partial_is_refused():
    with pytest.raises(ValueError, match="Partial"):
        ft_dtensor.held_indices((4,), (2,), [0], [Partial()])


@pytest.mark.slow
def test_plain_tensors_never_import_dtensor():
    # importing torch.distributed.tensor costs about a second: plain users must not pay it
    code = ("import sys, torch, fanin.torch as ft; ft.lecun_normal_(torch.empty(3, 3), seed=0); "
            "print('torch.distributed.tensor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plain_tensor_is_not_a_dtensor():
    assert not ft_dtensor.is_dtensor(torch.empty(2))
    with pytest.raises(TypeError, match="DTensor"):
        ft.local_block(torch.empty(2))


# --------------------------------------------------------------------------- #
# Multi-process harness
# --------------------------------------------------------------------------- #


def _worker(rank, world, store, case, args):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)  # 2-4 ranks share the machine: no oversubscription
    fanin.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    try:
        globals()[case](rank, world, *args)
        # every rank done talking before any tears gloo down: a rank that exits while a
        # peer's collective is in flight can abort that peer (std::terminate in gloo)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _spawn(tmp_path, world, case, *args):
    torch.multiprocessing.spawn(_worker, args=(world, str(tmp_path / "store"), case.__name__,
                                               args), nprocs=world, join=True)


def _same_bits(a, b):
    """Bit-for-bit equality of two tensors (so -0.0 != 0.0 and NaNs compare)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.is_floating_point:
        ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.contiguous().view(ints), b.contiguous().view(ints))
    return torch.equal(a, b)


def _check_local_block(dt):
    """local_block() against torch's private helper, and against the data itself."""
    offset, shape = ft.local_block(dt)
    mesh = dt.device_mesh
    t_shape, t_offset = _compute_local_shape_and_global_offset(
        tuple(dt.shape), tuple(mesh.shape), mesh.get_coordinate(), dt.placements)
    assert (offset, shape) == (tuple(t_offset), tuple(t_shape)), dt.placements
    assert tuple(dt.to_local().shape) == shape


# Functions of fanin.torch and their arguments; each is compared with its
# single-device result.
_STREAM_FUNCTIONS = [
    (ft.lecun_normal_, {}), (ft.lecun_uniform_, {}), (ft.glorot_normal_, {}),
    (ft.glorot_uniform_, {}), (ft.he_normal_, {}), (ft.he_uniform_, {}),
    (ft.variance_scaling_, {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
    (ft.truncated_normal_, {"mean": 1.0, "std": 0.5}), (ft.random_normal_, {"std": 2.0}),
    (ft.random_uniform_, {"minval": -1.0, "maxval": 3.0}),
]
_VALUE_FUNCTIONS = [(ft.zeros_, {}), (ft.ones_, {}), (ft.constant_, {"value": 0.25}),
                    (ft.orthogonal_, {"seed": 3}), (ft.identity_, {"gain": 2.0})]


def _fill_both(fn, kwargs, shape, dtype, mesh, placements):
    """(single-device result, DTensor filled the same way)."""
    ref = fn(torch.empty(shape, dtype=dtype), **kwargs)
    garbage = float("nan") if dtype.is_floating_point else -7  # what a fill must overwrite
    dt = distribute_tensor(torch.full(shape, garbage, dtype=dtype), mesh, placements)
    out = fn(dt, **kwargs)
    assert out is dt
    return ref, dt


def _assert_equal_everywhere(cases, mesh):
    for fn, kwargs, shape, dtype, placements in cases:
        ref, dt = _fill_both(fn, kwargs, shape, dtype, mesh, placements)
        _check_local_block(dt)
        assert _same_bits(dt.full_tensor(), ref), (fn.__name__, shape, dtype, placements)


# --------------------------------------------------------------------------- #
# Cases (run in every process)
# --------------------------------------------------------------------------- #

# Shapes: Linear (uneven on 4 ranks), conv (an empty Shard(0) shard on 4 ranks),
# a matrix with fewer rows than ranks, a bias, a scalar.
_SHAPES = [(7, 5), (3, 5, 3, 2), (2, 9), (5,), ()]


def _placements_1d(shape):
    out = [[Replicate()]] + [[Shard(d)] for d in range(len(shape))]
    return out


def _case_stream_1d(rank, world, staged):
    if staged:  # the route of other devices: host chunks copied in
        with ft.write.staged_on_cpu():
            _stream_1d(world)
    else:
        _stream_1d(world)


def _stream_1d(world):
    mesh = init_device_mesh("cpu", (world,))
    # every function on a weight sharded both ways; every shape and placement on one
    cases = [(fn, {**kwargs, "seed": 11}, (7, 5), torch.float32, placements)
             for fn, kwargs in _STREAM_FUNCTIONS for placements in ([Shard(0)], [Shard(1)])]
    cases += [(ft.lecun_normal_, {"seed": 12}, shape, torch.float32, placements)
              for shape in _SHAPES for placements in _placements_1d(shape)]
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        cases.append((ft.lecun_normal_, {"seed": 1}, (7, 5), dtype, [Shard(1)]))
    # Keras layout: no permutation, filled in place through the compiled kernel.
    cases.append((ft.lecun_normal_, {"seed": 2, "layout": "keras"}, (9, 6), torch.float32,
                  [Shard(0)]))
    he = {"class_name": "HeUniform", "config": {"seed": 4}}  # an identifier, as fanin.get takes
    cases.append((ft.init_, {"initializer": he}, (6, 4), torch.float32, [Shard(1)]))
    _assert_equal_everywhere(cases, mesh)
    partial = DTensor.from_local(torch.zeros(4, 2), mesh, [Partial()])
    with pytest.raises(ValueError, match="Partial"):
        ft.lecun_normal_(partial, seed=0)


def _case_values_1d(rank, world):
    mesh = init_device_mesh("cpu", (world,))
    cases = [(fn, kw, shape, torch.float32, placements) for fn, kw in _VALUE_FUNCTIONS
             for shape in ([(6, 4)] if fn in (ft.orthogonal_, ft.identity_) else [(6, 4), (5,)])
             for placements in _placements_1d(shape)]
    cases.append((ft.constant_, {"value": 3}, (5, 3), torch.int32, [Shard(0)]))
    cases.append((ft.ones_, {}, (5, 3), torch.bfloat16, [Shard(1)]))
    _assert_equal_everywhere(cases, mesh)
    # Integer RandomUniform (stream v2), against the Keras-layout twin permuted
    dt = distribute_tensor(torch.full((7, 5), -7, dtype=torch.int32), mesh, [Shard(0)])
    ft.random_uniform_(dt, -3, 9, seed=5)
    twin = fanin.RandomUniform(-3, 9, seed=5)((5, 7), "int32")
    assert _same_bits(dt.full_tensor(), torch.from_numpy(twin.T.copy()))


def _case_mesh_2d(rank, world):
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    layouts = [[Shard(0), Shard(1)], [Shard(1), Shard(0)], [Shard(0), Shard(0)],
               [Replicate(), Shard(1)], [Shard(1), Replicate()], [Replicate(), Replicate()]]
    cases = [(ft.he_normal_, {"seed": 5}, shape, torch.float32, p)
             for shape in [(7, 5), (3, 5, 3, 2)] for p in layouts]
    _assert_equal_everywhere(cases, mesh)
    # FSDP2's strided shards. Over tensor parallelism each rank's rows are contiguous,
    # in another order of ranks: one block.
    strided = [_StridedShard(0, split_factor=2), Shard(0)]
    ref, dt = _fill_both(ft.glorot_uniform_, {"seed": 6}, (8, 3), torch.float32, mesh, strided)
    _check_local_block(dt)
    assert _same_bits(dt.full_tensor(), ref)
    # A strided shard alone holds rows 0, 1, 4, 5 (or 2, 3, 6, 7): two blocks, filled
    # correctly, but local_block() refuses, naming the placement.
    strided = [Replicate(), _StridedShard(0, split_factor=2)]
    ref, dt = _fill_both(ft.glorot_uniform_, {"seed": 6}, (8, 3), torch.float32, mesh, strided)
    assert _same_bits(dt.full_tensor(), ref)
    with pytest.raises(ValueError, match="_StridedShard"):
        ft.local_block(dt)


def _case_local_only(rank, world):
    """Only the last rank initializes: a collective would time out (30 s) instead."""
    mesh = init_device_mesh("cpu", (world,))
    shape = (1024, 2048)  # torch layout, 8 MiB; each of 2 ranks holds 4 MiB
    dt = distribute_tensor(torch.zeros(shape), mesh, [Shard(1)])
    if rank == world - 1:
        tracemalloc.start()
        ft.lecun_normal_(dt, seed=9)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # temporaries (NumPy, traced) stay within the local shard, not the full tensor
        assert peak <= dt.to_local().numel() * 4 + (1 << 20), peak
        (o0, o1), (s0, s1) = ft.local_block(dt)
        ref = ft.lecun_normal_(torch.empty(shape), seed=9)
        assert _same_bits(dt.to_local(), ref[o0:o0 + s0, o1:o1 + s1])
    dist.barrier()
    # a Parameter of a DTensor (requires grad), as FSDP2 and tensor parallelism hold them
    param = torch.nn.Parameter(distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)]))
    version = param.to_local()._version
    assert ft.glorot_normal_(param, seed=1) is param and param.requires_grad
    assert param.to_local()._version > version  # autograd sees the in-place write
    assert _same_bits(param.full_tensor().detach(), ft.glorot_normal_(torch.empty(6, 4), seed=1))


class _Net(torch.nn.Module):
    """Uneven dims on purpose: shards of 4 ranks are unequal, some empty."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 6, padding_idx=7)  # a zero row on rank 1 of 2
        self.mha = torch.nn.MultiheadAttention(6, 2)  # q, k, v blocks of one parameter
        self.lstm = torch.nn.LSTM(5, 3)  # the forget gate's ones, a block of rows
        self.conv = torch.nn.Conv1d(6, 5, 3)
        self.norm = torch.nn.LayerNorm(5)
        self.fc1 = torch.nn.Linear(5, 7)
        self.fc2 = torch.nn.Linear(7, 3)
        self.head = torch.nn.Linear(3, 2, bias=False)


def _reference_state():
    net = ft.init_module_(_Net(), seed=0)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _assert_state_equal(net):
    ref = _reference_state()
    got = {k: v.full_tensor() if isinstance(v, DTensor) else v for k, v in net.state_dict().items()}
    assert got.keys() == ref.keys()
    for k in ref:
        assert _same_bits(got[k], ref[k]), k


def _case_fsdp2(rank, world):
    from torch.distributed.fsdp import fully_shard
    mesh = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        net = _Net()
    for layer in (net.conv, net.fc1, net.fc2):
        fully_shard(layer, mesh=mesh)
    fully_shard(net, mesh=mesh)
    net.to_empty(device="cpu")
    assert all(isinstance(p, DTensor) for p in net.parameters())
    ft.init_module_(net, seed=0)
    _assert_state_equal(net)


def _case_fsdp2_tp(rank, world):
    """FSDP2 over tensor parallelism: column-parallel weights get strided shards."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                   parallelize_module)
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    with torch.device("meta"):
        net = _Net()
    parallelize_module(net, mesh["tp"], {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()})
    fully_shard(net, mesh=mesh["dp"])
    net.to_empty(device="cpu")
    placements = {str(p.placements) for p in net.parameters()}
    assert any("_StridedShard" in s for s in placements), placements
    ft.init_module_(net, seed=0)
    _assert_state_equal(net)


def _case_fsdp2_hf(rank, world):
    """HF Llama, GPT-2 and BERT (small configs) in the FSDP2 meta flow, both rule sets:
    every parameter equals the single-process init bit for bit, and the loss is finite."""
    from torch.distributed.fsdp import fully_shard
    sys.path.insert(0, os.path.dirname(__file__))
    from test_torch_modules import hf_loss, hf_models
    mesh = init_device_mesh("cpu", (world,))
    for name, make in hf_models().items():
        for rules in ("keras", "torch"):
            reference = ft.init_module_(make(), rules=rules, seed=0)
            with torch.device("meta"):
                net = make()
            fully_shard(net, mesh=mesh)
            net.to_empty(device="cpu")
            with torch.no_grad():  # buffers (rotary tables, position ids) are the caller's
                for (_, b), (_, r) in zip(net.named_buffers(), reference.named_buffers()):
                    b.copy_(r)
            ft.init_module_(net, rules=rules, seed=0)
            for (key, p), (_, r) in zip(net.named_parameters(), reference.named_parameters()):
                assert _same_bits(p.full_tensor().detach(), r.detach()), (name, rules, key)
            assert math.isfinite(hf_loss(net)), (name, rules)


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #


# (case, number of processes, extra arguments): one spawn each.
_RUNS = {
    "stream-functions-2-host-copy": (_case_stream_1d, 2, (True,)),
    "stream-functions-4": (_case_stream_1d, 4, (False,)),
    "value-functions-2": (_case_values_1d, 2, ()),
    "mesh-2d-and-strided": (_case_mesh_2d, 4, ()),
    "fill-is-local": (_case_local_only, 2, ()),
    "fsdp2-meta-flow-2": (_case_fsdp2, 2, ()),
    "fsdp2-meta-flow-4": (_case_fsdp2, 4, ()),
    "fsdp2-over-tensor-parallel": (_case_fsdp2_tp, 4, ()),
    "fsdp2-meta-flow-hf-models-2": (_case_fsdp2_hf, 2, ()),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", list(_RUNS))
def test_processes(tmp_path, run):
    case, world, args = _RUNS[run]
    _spawn(tmp_path, world, case, *args)
