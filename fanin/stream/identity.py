"""Identity of parameters: frozen dataclasses compared and hashed by their floats' bits.

``-0.0 == 0.0`` and both hash alike, but a distribution or draw built from one
produces other bits than one built from the other. Caches keyed on such values
(``functools.lru_cache``, JAX's compiled-function cache, user dictionaries of draws)
must tell them apart, so these values compare and hash by their bits.
"""

from __future__ import annotations

import struct


def bits_key(value: object) -> object:
    """``value`` with each float (in tuples too) replaced by its type and IEEE bytes.

    >>> bits_key(-0.0) == bits_key(0.0), bits_key((1, 2.0)) == bits_key((1, 2.0))
    (False, True)
    """
    if isinstance(value, float):
        return float, struct.pack("<d", value)
    if isinstance(value, complex):
        return complex, struct.pack("<dd", value.real, value.imag)
    if isinstance(value, tuple):
        return tuple(bits_key(v) for v in value)
    return value


class BitwiseEquality:
    """Mixin for ``@dataclass(frozen=True, eq=False)`` classes: ``==`` and ``hash`` on
    the fields' bits (same class required, as dataclasses' own ``==``).

    The key is computed once per instance (these values sit on every fill's path,
    as ``lru_cache`` keys) and left out of pickles: hashes of bytes differ between
    processes.
    """

    __slots__ = ()

    def _bits(self) -> tuple:
        memo = self.__dict__.get("_bits_memo")
        if memo is None:
            names = getattr(type(self), "__dataclass_fields__")  # set by @dataclass
            key = tuple(bits_key(getattr(self, name)) for name in names)
            memo = key, hash(key)
            object.__setattr__(self, "_bits_memo", memo)
        return memo

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self is other or self._bits()[0] == other._bits()[0]

    def __hash__(self) -> int:
        return self._bits()[1]

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_bits_memo"}
