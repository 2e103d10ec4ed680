"""Sharded fanin.jax on 8 virtual CPU devices; run by tests/test_jax.py in a subprocess.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/jax_sharding_check.py sharding|keras

Checks, for several meshes, partition specs and dtypes: the compiled program has no
collective, its iotas are no larger than one shard (each device computes only its
own shard), and the values equal the unsharded ones. Prints "ok" when all hold.
"""

import math
import re
import sys

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import fanin
import fanin.jax as fj

COLLECTIVES = re.compile(r"all-gather|all-reduce|collective-permute|all-to-all|reduce-scatter")
IOTA = re.compile(r"= \w+\[([\d,]*)\]\S* iota\(")

# (mesh shape, spec, global shape): every spec uses all 8 devices, so an unsharded
# computation would show iotas larger than a shard.
CASES = [((2, 4), P("a", "b"), (64, 32)), ((2, 4), P(None, ("a", "b")), (48, 64)),
         ((2, 4), P("b", "a"), (16, 8)), ((8, 1), P("a", None), (40, 12)),
         ((2, 4), P(("b", "a"),), (64,)), ((4, 2), P(None, "b", "a"), (3, 6, 16))]


def check_program(f, args, shard_elements, label):
    text = f.lower(*args).compile().as_text()
    found = set(COLLECTIVES.findall(text))
    assert not found, f"{label}: collectives {found}"
    for dims in IOTA.findall(text):
        n = math.prod(int(d) for d in dims.split(",") if d)
        assert n <= shard_elements, f"{label}: iota of {n} elements > shard of {shard_elements}"


def check_init(init, dtype, mesh, spec, shape, label):
    key = jax.random.key(21)
    want = np.asarray(init(key, shape, dtype))
    sharding = NamedSharding(mesh, spec)
    shard = math.prod(shape) // 8
    variants = [("out_sharding=", jax.jit(lambda k: init(k, shape, dtype, out_sharding=sharding)))]
    if mesh.axis_types[0] == AxisType.Auto:  # explicit meshes need out_sharding=
        variants.append(("jit out_shardings", jax.jit(lambda k: init(k, shape, dtype),
                                                     out_shardings=sharding)))
    for how, f in variants:
        name = f"{label} {how} {spec} {shape} {dtype}"
        check_program(f, (key,), shard, name)
        got = f(key)
        assert got.sharding.is_equivalent_to(sharding, len(shape)), name
        assert np.asarray(got).tobytes() == want.tobytes(), name + ": values"


def sharding_checks():
    # The initializers (every transform) and formats rotate over the cases; the
    # ones without fans first, for the 1-D case.
    inits = [("normal", fj.normal(1.0)), ("uniform", fj.uniform(2.0)),
             ("truncated_normal(-1, 3)", fj.truncated_normal(1.0, lower=-1.0, upper=3.0)),
             ("lecun_normal", fj.lecun_normal()), ("glorot_uniform", fj.glorot_uniform()),
             ("he_normal", fj.he_normal())]
    for axis_type in (AxisType.Auto, AxisType.Explicit):
        for n, (mesh_shape, spec, shape) in enumerate(CASES):
            mesh = jax.make_mesh(mesh_shape, ("a", "b"), axis_types=(axis_type,) * 2)
            i = n if axis_type == AxisType.Auto else n + 3
            label, init = inits[i % 6] if len(shape) > 1 else inits[i % 3]  # fans need 2-D
            dtype = ("float32", "bfloat16", "float16")[n % 3 if axis_type == AxisType.Auto else 0]
            with jax.set_mesh(mesh):
                check_init(init, dtype, mesh, spec, shape, f"{axis_type.name} {label}")
    jax.config.update("jax_enable_x64", True)
    mesh = jax.make_mesh((2, 4), ("a", "b"), axis_types=(AxisType.Auto,) * 2)
    for mesh_shape, spec, shape in CASES[:2]:
        check_init(fj.lecun_normal(), "float64", mesh, spec, shape, "x64 lecun_normal")
    print("ok")


def keras_checks():
    import keras

    mesh = keras.distribution.DeviceMesh((2, 4), ["a", "b"], jax.devices())
    layout = keras.distribution.TensorLayout(["a", "b"], mesh)
    for initializer in (fanin.LecunNormal(seed=5), fanin.RandomUniform(-1.0, 1.0, seed=2),
                        fanin.Ones()):
        for dtype in ("float32", "bfloat16"):
            draw = initializer.draw((64, 32), dtype)
            got = fj.keras_values(draw, layout)
            assert got.sharding.is_equivalent_to(layout.backend_layout, 2)
            assert np.asarray(got).tobytes() == draw.array().tobytes(), (initializer, dtype)
            if isinstance(draw, fanin.StreamDraw):
                f = jax.jit(lambda: fj.keras_values(draw, layout))
                check_program(f, (), 64 * 32 // 8, f"keras {initializer} {dtype}")
    print("ok")


if __name__ == "__main__":
    assert len(jax.devices()) == 8, "run with --xla_force_host_platform_device_count=8"
    {"sharding": sharding_checks, "keras": keras_checks}[sys.argv[1]]()
