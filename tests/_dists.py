"""The distributions the backend-equality tests share: one list, so every backend is
checked on the same cases.

``GOLDEN``: the cases whose values tests/test_stream.py pins (their names are part of
the golden table). ``EDGES``: cases at the edges of the transforms (tiny and huge
scales, far tails, narrow and one-sided supports, bounds that round to +-0 in float16).
``ALL``: both. ``FAST``: a few for backends that compile each case (JAX).
"""

from fanin import stream

GOLDEN = {
    "uniform": stream.uniform(-1.0, 3.0),
    "normal": stream.normal(0.5, 2.0),
    "truncated_normal": stream.truncated_normal(0.0, 1.0),
    "truncated_normal[2,3]": stream.truncated_normal(0.0, 1.0, 2.0, 3.0),
    "truncated_normal[-0.3,2.5]": stream.truncated_normal(1.0, 0.5, -0.3, 2.5),
}
EDGES = {
    "uniform_empty": stream.uniform(0.25, 0.25),
    "normal_narrow": stream.normal(-3.0, 1e-3),
    "normal_tiny": stream.normal(0.0, 1e-30),  # float16 / bfloat16 subnormals and zeros
    "truncated_normal_far": stream.truncated_normal(7.0, 0.01),
    "truncated_normal[-6,-5.5]": stream.truncated_normal(0.1, 1.5, -6.0, -5.5),
    "truncated_normal[-0.1,0.1]": stream.truncated_normal(0.0, 1.0, -0.1, 0.1),
    "truncated_normal[-100,100]": stream.truncated_normal(0.0, 0.02, -100.0, 100.0),
    "truncated_normal_1e-9": stream.truncated_normal(0.0, 1e-9),  # bounds +-0 in float16
}
ALL = {**GOLDEN, **EDGES}
FAST = {name: ALL[name] for name in ("normal", "truncated_normal", "uniform",
                                     "truncated_normal[-0.3,2.5]")}
