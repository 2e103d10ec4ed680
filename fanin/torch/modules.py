"""``init_module_``: every parameter of a ``torch.nn.Module``, by per-layer rules, or an error.

Nothing is left silently: each parameter is matched by a rule, or handled as
``missing=`` says (``"error"``, the default, names the unmatched parameters and
suggests a mapping; ``"keep"`` leaves them as they are; ``"reset"`` calls their
modules' own ``reset_parameters()``). A call that fails changes no parameter:
every rule is resolved and run first on a meta twin of its parameter (which
validates its arguments and dtype without computing anything), and only then
are the values written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

import fanin
from fanin import dtypes, seeds, stream
from fanin.draws import Draw
from fanin.torch.keras_named import reseeded
from fanin.torch.nn_init import (constant_, kaiming_uniform_, normal_, ones_, torch_fans,
                                 uniform_, xavier_normal_, xavier_uniform_, zeros_)
from fanin.torch.write import (apply_initializer, fill_rows_, is_meta, keras_shape, resolve_seed,
                               write_draw)

__all__ = ["init_module_", "parameter_seed", "MISSING"]

#: What ``init_module_`` does with parameters no rule matches.
MISSING = ("error", "keep", "reset")

#: A writer fills one parameter given its seed: ``writer(param, seed)``.
Writer = Callable[[torch.Tensor, int], None]
#: A rule maps (module, local parameter name, parameter) to a writer, or None (no match).
Rule = Callable[[torch.nn.Module, str, torch.Tensor], Optional[Writer]]


def _leave(p: torch.Tensor, seed: int) -> None:
    """The writer of a parameter the caller chose to leave alone (a ``None`` rule)."""


def parameter_seed(seed: int, name: str) -> int:
    """The seed of parameter ``name`` under :func:`init_module_` with ``seed``.

    ``int.from_bytes(blake2b(name.encode("utf-8"), digest_size=8,
    key=seed_to_key(seed).to_bytes(8, "little")).digest(), "little")``: a keyed
    hash of the qualified parameter name (``"encoder.0.weight"``), stable across
    processes, Python versions and machines (unlike ``hash()``).

    >>> parameter_seed(0, "fc.weight") == parameter_seed(0, "fc.weight")
    True
    >>> parameter_seed(0, "fc.weight") != parameter_seed(1, "fc.weight")
    True
    """
    checked = seeds.check_seed(seed)
    if checked is None:
        raise TypeError("parameter_seed() needs an integer seed, got None.")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}.")
    key = stream.seed_to_key(checked).to_bytes(8, "little")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little")


# --------------------------------------------------------------------------- #
# Layers the rules recognize
# --------------------------------------------------------------------------- #


def _is_norm(module: torch.nn.Module) -> bool:
    """torch's norm layers, and any layer whose class name says it is one.

    Models define their own (HF's ``LlamaRMSNorm``, ``T5LayerNorm``, ...), with
    a weight of ones and an optional bias of zeros, as torch's.
    """
    nn = torch.nn
    types: tuple = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    if hasattr(nn, "RMSNorm"):
        types += (nn.RMSNorm,)
    return isinstance(module, types) or "Norm" in type(module).__name__


def _is_embedding(module: Any) -> bool:
    return isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag))


def _is_transposed_linear(module: torch.nn.Module) -> bool:
    """GPT-2's ``Conv1D`` (``transformers.pytorch_utils``): a Linear whose weight is (in, out)."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def _is_bias_name(local: str) -> bool:
    return local == "bias" or local.startswith("bias_") or local.endswith("_bias")


# --------------------------------------------------------------------------- #
# Writers
# --------------------------------------------------------------------------- #


def _keras_writer(init: Any, layout: str = "torch") -> Writer:
    """A fanin initializer (Keras semantics) as a writer, reseeded per parameter."""
    def write(p: torch.Tensor, seed: int) -> None:
        fresh = reseeded(init, seed)
        if is_meta(p) and isinstance(fresh, fanin.Initializer):
            # validates shape and dtype as the real write will (a draw is a few numbers)
            fresh.draw(keras_shape(p.shape, layout)[0], p.dtype)
            return
        apply_initializer(p, fresh, layout, "init_module_")
    return write


def _torch_writer(fn: Callable[..., Any], **kwargs: Any) -> Writer:
    """A torch-named function as a writer (``seed=`` passed when it takes one)."""
    def write(p: torch.Tensor, seed: int) -> None:
        fn(p, seed=seed, **kwargs)
    return write


def _unseeded(fn: Callable[..., Any], **kwargs: Any) -> Writer:
    def write(p: torch.Tensor, seed: int) -> None:
        fn(p, **kwargs)
    return write


def _zero_padding_row(module: torch.nn.Module, write: Writer) -> Writer:
    """Embedding: after ``write``, row ``padding_idx`` is zeros (as torch's reset)."""
    def wrapped(p: torch.Tensor, seed: int) -> None:
        write(p, seed)
        index = getattr(module, "padding_idx", None)
        if index is not None and not is_meta(p):
            fill_rows_(p, index, index + 1, 0)
    return wrapped


def _lstm_bias_ih(hidden: int) -> Writer:
    """Keras's ``unit_forget_bias``: zeros, with ones on the forget gate (i, f, g, o)."""
    def write(p: torch.Tensor, seed: int) -> None:
        zeros_(p)
        if not is_meta(p):
            fill_rows_(p, hidden, 2 * hidden, 1)
    return write


@dataclass(frozen=True)
class TransposedBlocksDraw(Draw):
    """A ``(k * n, m)`` tensor whose rows ``[i n, (i + 1) n)`` are ``parts[i]`` (``(m, n)``) transposed."""

    parts: tuple = field(kw_only=True)

    def _fill_block(self, out: np.ndarray, offset: tuple) -> None:
        n = self.shape[0] // len(self.parts)
        (r0, c0), rows = offset, out.shape[0]
        for i, part in enumerate(self.parts):
            first, last = max(r0, i * n), min(r0 + rows, (i + 1) * n)
            if first < last:  # the rows are the part's block transposed
                part.fill_permuted(out[first - r0:last - r0], (1, 0), (c0, first - i * n))


def _mha_in_proj(embed_dim: int) -> Writer:
    """Keras's q, k and v kernels, each glorot uniform on its own (E, E) block.

    The parameter's seed gives one ``GlorotUniform``; its calls 0, 1 and 2 are the
    q, k and v blocks (each the Keras kernel ``(E, E)``, transposed).
    """
    def write(p: torch.Tensor, seed: int) -> None:
        init = fanin.GlorotUniform(seed=seed)
        name = dtypes.float_dtype(p.dtype)
        parts = tuple(init.draw((p.shape[1], embed_dim), name) for _ in range(3))
        if not is_meta(p):
            write_draw(p, TransposedBlocksDraw(tuple(p.shape), name, parts=parts), None)
    return write


# --------------------------------------------------------------------------- #
# The two rule sets
# --------------------------------------------------------------------------- #


def _keras_rule(module: torch.nn.Module, local: str, p: torch.Tensor) -> Optional[Writer]:
    """Each layer's Keras-twin defaults (the ``"keras"`` rules)."""
    nn = torch.nn
    if _is_norm(module) and p.ndim <= 1:
        return {"weight": _keras_writer(fanin.Ones()),
                "bias": _keras_writer(fanin.Zeros())}.get(local)
    if _is_embedding(module) and local == "weight":
        # (num_embeddings, dim) already is Keras's layout: no permutation
        return _zero_padding_row(module, _keras_writer(fanin.RandomUniform(-0.05, 0.05),
                                                       "keras"))
    if _is_transposed_linear(module) and local == "weight":  # (in, out): Keras's Dense kernel
        return _keras_writer(fanin.GlorotUniform(), "keras")
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        if local.startswith("weight_hh"):
            return _keras_writer(fanin.Orthogonal())
        if local.startswith("bias_ih") and isinstance(module, (nn.LSTM, nn.LSTMCell)):
            return _lstm_bias_ih(module.hidden_size)
    if isinstance(module, nn.MultiheadAttention) and local == "in_proj_weight":
        return _mha_in_proj(module.embed_dim)
    if isinstance(module, nn.PReLU) and local == "weight":
        return _keras_writer(fanin.Zeros())  # Keras's PReLU alpha_initializer
    if _is_bias_name(local):  # any rank: MultiheadAttention's bias_k is (1, 1, E)
        return _keras_writer(fanin.Zeros())
    if p.ndim >= 2:
        return _keras_writer(fanin.GlorotUniform())
    return None


def _fan_in_bound(weight: torch.Tensor) -> float:
    """torch's Linear/Conv bias bound ``1 / sqrt(fan_in)`` (0 when fan_in is 0)."""
    fan_in, _ = torch_fans(weight)
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0


def _torch_layer_rule(module: torch.nn.Module, local: str) -> Optional[Writer]:
    """torch's layers with their own ``reset_parameters``."""
    nn = torch.nn
    uniform = lambda bound: _torch_writer(uniform_, a=-bound, b=bound)  # noqa: E731
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        if local == "weight":
            return _torch_writer(kaiming_uniform_, a=math.sqrt(5))
        if local == "bias":
            return uniform(_fan_in_bound(module.weight))
    if isinstance(module, nn.Bilinear) and local in ("weight", "bias"):
        return uniform(1.0 / math.sqrt(module.weight.shape[1]))
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return uniform(1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0)
    if isinstance(module, nn.MultiheadAttention):
        if local in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return _torch_writer(xavier_uniform_)
        if local == "in_proj_bias":
            return _unseeded(zeros_)
        if local in ("bias_k", "bias_v"):
            return _torch_writer(xavier_normal_)
    if isinstance(module, nn.PReLU) and local == "weight":
        return _unseeded(constant_, val=module.init)
    return None


def _torch_rule(module: torch.nn.Module, local: str, p: torch.Tensor) -> Optional[Writer]:
    """PyTorch's own ``reset_parameters`` distributions (the ``"torch"`` rules).

    Layers models define themselves get what their own constructors give:
    norms ones and zeros, GPT-2's ``Conv1D`` N(0, 0.02**2) and zero bias, other
    parameters named like biases zeros.
    """
    if _is_norm(module) and p.ndim <= 1:
        return {"weight": _unseeded(ones_), "bias": _unseeded(zeros_)}.get(local)
    if _is_embedding(module) and local == "weight":
        return _zero_padding_row(module, _torch_writer(normal_))
    if _is_transposed_linear(module):
        return {"weight": _torch_writer(normal_, std=0.02), "bias": _unseeded(zeros_)}.get(local)
    known = _torch_layer_rule(module, local)
    if known is None and _is_bias_name(local) and not _is_torch_layer(module):
        return _unseeded(zeros_)  # a model's own bias vector (BERT's output bias): zeros
    return known


def _is_torch_layer(module: torch.nn.Module) -> bool:
    return type(module).__module__.startswith("torch.")


def _torch_overrides(module: torch.nn.Module) -> dict[int, Writer]:
    """Parameters whose torch default a parent module sets (id -> writer).

    ``MultiheadAttention`` zeros ``out_proj.bias``; ``nn.Transformer`` gives every
    parameter of rank > 1 ``xavier_uniform_`` (its ``_reset_parameters``).
    """
    found: dict[int, Writer] = {}
    for mod in module.modules():
        if isinstance(mod, torch.nn.MultiheadAttention) and mod.out_proj.bias is not None:
            found[id(mod.out_proj.bias)] = _unseeded(zeros_)
    for mod in module.modules():
        if isinstance(mod, torch.nn.Transformer):
            found.update({id(p): _torch_writer(xavier_uniform_)
                          for p in mod.parameters() if p.dim() > 1})
    return found


_RULES: dict[str, Rule] = {"keras": _keras_rule, "torch": _torch_rule}


# --------------------------------------------------------------------------- #
# The caller's mapping
# --------------------------------------------------------------------------- #


def _user_value(value: Any, module: Optional[torch.nn.Module]) -> Writer:
    """A mapping value as a writer: a fanin identifier/instance, a function, or None."""
    if value is None:
        return _leave
    if isinstance(value, (str, dict, fanin.Initializer)):
        init = fanin.get(value)
        keras_layout = _is_embedding(module) or (module is not None
                                                 and _is_transposed_linear(module))
        return _keras_writer(init, "keras" if keras_layout else "torch")
    if callable(value):
        return lambda p, seed: value(p, seed=seed)
    raise TypeError(f"rules values must be a fanin initializer or identifier, a function "
                    f"f(tensor, seed=...) or None, got {type(value).__name__}.")


def _check_mapping(rules: dict) -> None:
    for key in rules:
        if not (isinstance(key, str) or (isinstance(key, type)
                                         and issubclass(key, torch.nn.Module))):
            raise TypeError(f"rules keys must be parameter-name globs (str) or "
                            f"torch.nn.Module subclasses, got {key!r}.")


def _looks_like_config(value: dict) -> bool:
    """A fanin config dict (``{"class_name": ...}``) rather than {param name: value}."""
    return "class_name" in value


def _user_rule(rules: dict, base: Rule, qual: str, module: torch.nn.Module, local: str,
               p: torch.Tensor) -> Optional[Writer]:
    """The first glob matching ``qual``, else the first module type ``module`` is, else ``base``."""
    for key, value in rules.items():
        if isinstance(key, str) and fnmatch.fnmatchcase(qual, key):
            return _user_value(value, module)
    for key, value in rules.items():
        if isinstance(key, type) and isinstance(module, key):
            if isinstance(value, dict) and not _looks_like_config(value):
                if local not in value:
                    break
                return _user_value(value[local], module)
            if p.ndim >= 2:  # a bare initializer for a module type: its weights
                return _user_value(value, module)
            break
    return base(module, local, p)


_UNSET: Any = object()


def _legacy_rule(rule: Rule, kernel: Any, bias: Any) -> Rule:
    """``kernel=`` / ``bias=`` on top of ``rule``, outside norm layers."""
    if kernel is _UNSET and bias is _UNSET:
        return rule
    kernel_w = None if kernel is _UNSET else _user_value(kernel, None)
    bias_w = None if bias is _UNSET else _user_value(bias, None)

    def legacy(module: torch.nn.Module, local: str, p: torch.Tensor) -> Optional[Writer]:
        if not _is_norm(module):
            if kernel_w is not None and p.ndim >= 2:
                if _is_embedding(module):
                    return _user_value(kernel, module)
                return kernel_w
            if bias_w is not None and p.ndim < 2 and _is_bias_name(local):
                return bias_w
        return rule(module, local, p)
    return legacy


def _module_rule(module: torch.nn.Module, rules: Union[str, dict], base: str, kernel: Any,
                 bias: Any) -> Callable[[str, torch.nn.Module, str, torch.Tensor], Optional[Writer]]:
    """``rule(qual, module, local, param) -> writer | None`` for ``init_module_``'s arguments."""
    if base not in _RULES:
        raise ValueError(f"Unknown base rules {base!r}; expected one of {sorted(_RULES)}.")
    if isinstance(rules, str):
        if rules not in _RULES:
            raise ValueError(f"Unknown rules {rules!r}; expected one of {sorted(_RULES)} "
                             f"or a mapping.")
        rules, base = {}, str(rules)
    elif not isinstance(rules, dict):
        raise TypeError(f"rules must be 'keras', 'torch' or a dict, got "
                        f"{type(rules).__name__}.")
    _check_mapping(rules)
    base_rule = _RULES[base]
    if base == "torch":
        overrides = _torch_overrides(module)
        plain = base_rule
        base_rule = lambda mod, local, p: overrides.get(id(p)) or plain(mod, local, p)  # noqa: E731
    base_rule = _legacy_rule(base_rule, kernel, bias)
    return lambda qual, mod, local, p: _user_rule(rules, base_rule, qual, mod, local, p)


# --------------------------------------------------------------------------- #
# init_module_
# --------------------------------------------------------------------------- #

Entry = tuple[torch.Tensor, str, torch.nn.Module, str]


def _parameters(module: torch.nn.Module) -> list[Entry]:
    """Each parameter once: ``(param, qualified name, owner, local name)``.

    A parameter shared by several modules (tied weights) is owned by an
    ``Embedding`` among them if there is one (a tied output projection takes the
    token embedding's rule), else by its lexicographically smallest name; it is
    seeded under the owner's name.
    """
    found: dict[int, list] = {}
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for local, p in mod.named_parameters(recurse=False):
            qual = f"{mod_name}.{local}" if mod_name else local
            found.setdefault(id(p), [p, []])[1].append((qual, mod, local))
    out = []
    for p, names in found.values():
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            continue  # a lazy module before its first forward: nothing to fill yet
        qual, mod, local = min(names, key=lambda t: (not _is_embedding(t[1]), t[0]))
        out.append((p, qual, mod, local))
    return out


def _suggestion(p: torch.Tensor, local: str) -> str:
    if p.ndim >= 2:
        return "'glorot_uniform'"
    return "'zeros'" if _is_bias_name(local) else "'ones'"


def _missing_error(unmatched: list[Entry], model: torch.nn.Module) -> ValueError:
    shown = [f"{qual!r} ({type(mod).__name__}, shape {tuple(p.shape)})"
             for p, qual, mod, _ in unmatched[:8]]
    more = f" and {len(unmatched) - 8} more" if len(unmatched) > 8 else ""
    mapping: dict[str, str] = {}
    for p, qual, _, local in unmatched:
        mapping.setdefault(re.sub(r"\.\d+\.", ".*.", qual), _suggestion(p, local))
    example = ", ".join(f"{k!r}: {v}" for k, v in list(mapping.items())[:4])
    return ValueError(
        f"init_module_ has no rule for {len(unmatched)} parameter(s) of "
        f"{type(model).__name__}: {', '.join(shown)}{more}. Map them, e.g. "
        f"rules={{{example}}} (values: a fanin initializer or identifier, a function "
        f"f(param, seed=...), or None to leave one alone), or pass missing='keep' to leave "
        f"them as they are or missing='reset' for their modules' own reset_parameters(). "
        f"Nothing was written.")


def _resets(unmatched: list[Entry], module: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """``missing="reset"``: the owners of unmatched parameters, each by its qualified name."""
    names = {id(m): n for n, m in module.named_modules(remove_duplicate=False)}
    owners: dict[str, torch.nn.Module] = {}
    for _, qual, mod, _ in unmatched:
        if not callable(getattr(mod, "reset_parameters", None)):
            raise ValueError(f"missing='reset': {qual!r} belongs to {type(mod).__name__}, "
                             f"which has no reset_parameters(); map it in rules. Nothing "
                             f"was written.")
        owners.setdefault(names[id(mod)], mod)
    return owners


def _reset(owners: dict[str, torch.nn.Module], seed: int) -> None:
    """Each owner's ``reset_parameters()`` with torch's generators seeded from its name."""
    devices = sorted({p.device.index or 0 for m in owners.values() for p in m.parameters()
                      if p.device.type == "cuda"})
    for name, mod in owners.items():
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(parameter_seed(seed, name) >> 1)  # torch takes 63 bits
            getattr(mod, "reset_parameters")()


def _twin(p: torch.Tensor) -> torch.Tensor:
    """A meta tensor like ``p`` (its global shape, for a DTensor): rules run on it first."""
    return torch.empty(tuple(p.shape), dtype=p.dtype, device="meta")


def init_module_(module: torch.nn.Module, rules: Union[str, dict] = "keras",
                 seed: Optional[int] = 0, *, base: str = "keras", missing: str = "error",
                 generator: Optional[torch.Generator] = None, kernel: Any = _UNSET,
                 bias: Any = _UNSET) -> torch.nn.Module:
    """Re-initialize the parameters of ``module`` in place, layer by layer; leave none silently.

    ``rules="keras"`` gives each torch layer what its Keras twin uses by default:

    - ``Linear``, ``ConvNd``, ``ConvTransposeNd`` (and any other parameter of rank
      >= 2): glorot uniform kernel in torch layout (the Keras twin's values,
      permuted; see :mod:`fanin.torch`); biases zeros. GPT-2's ``Conv1D``
      (``transformers``), whose weight already is ``(in, out)``: glorot uniform
      with no permutation.
    - ``LSTM`` / ``GRU`` / ``RNN`` (and their cells): ``weight_ih*`` glorot uniform
      (Keras ``kernel``), ``weight_hh*`` orthogonal (Keras ``recurrent_kernel``),
      biases zeros; for ``LSTM`` Keras's unit forget bias is the ``+1`` on the
      forget gate of ``bias_ih*`` (torch adds ``bias_ih`` and ``bias_hh``; both
      gate orders are i, f, g, o). GRU gate blocks stay in torch's order (r, z, n).
    - ``Embedding``: uniform(-0.05, 0.05), no permutation (a ``padding_idx`` row
      is then zeroed, as torch's own reset does).
    - Norms: torch's (BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm) and
      any layer whose class name contains ``"Norm"`` (``LlamaRMSNorm``,
      ``T5LayerNorm``, ...): weight ones, bias zeros; buffers are left alone. (A
      norm that stores its scale as an offset from 1, initialized to zeros, needs
      a mapping: ``rules={"*norm.weight": "zeros"}``.)
    - ``MultiheadAttention``: the packed ``in_proj_weight`` (3E, E) gets q, k and v
      each as its own (E, E) glorot uniform kernel (per-projection fans), calls
      0, 1, 2 of the parameter's seed; biases zeros; ``out_proj`` is a ``Linear``.
    - ``PReLU``: zeros (Keras's ``alpha_initializer``); any other parameter named
      ``bias``, ``bias_*`` or ``*_bias``: zeros.

    ``rules="torch"`` gives PyTorch's own ``reset_parameters`` distributions, made
    reproducible (torch-named functions, torch layout): ``Linear`` / conv weights
    ``kaiming_uniform_(a=sqrt(5))`` and biases uniform(+-1/sqrt(fan_in));
    ``Bilinear`` uniform(+-1/sqrt(in1)); ``Embedding`` N(0, 1) (padding row 0);
    RNNs uniform(+-1/sqrt(hidden_size)); norms (as above) ones/zeros;
    ``MultiheadAttention`` ``xavier_uniform_`` projections, ``xavier_normal_``
    ``bias_k``/``bias_v``, zero in/out biases; ``PReLU`` its ``init``; GPT-2's
    ``Conv1D`` N(0, 0.02**2) and zero bias (its own constructor's); a bias of a
    layer torch does not define (BERT's output bias) zeros; inside an
    ``nn.Transformer`` every parameter of rank > 1 ``xavier_uniform_``.

    ``rules`` may also be a mapping of overrides on top of ``base`` (``"keras"`` or
    ``"torch"``). Keys are parameter-name globs (``"encoder.*.weight"``, matched
    against qualified names with :func:`fnmatch.fnmatchcase`; the first match
    wins) or module types (``torch.nn.Linear``; the first type the module is an
    instance of wins; a glob beats a type). Values are a fanin initializer or
    identifier (Keras semantics, torch layout, Embedding in Keras layout), a
    function called as ``f(param, seed=...)`` (e.g. :func:`kaiming_normal_`), or
    None (leave alone). For a module type the value applies to its parameters of
    rank >= 2, or is a dict from local parameter names to values.

    ``missing``: what happens to a parameter no rule matches (a custom
    ``nn.Parameter``, a layer the rules do not know). ``"error"`` (the default)
    raises ``ValueError`` naming them all and suggesting a mapping, before
    anything is written; ``"keep"`` leaves them as they are; ``"reset"`` calls
    their modules' own ``reset_parameters()`` (torch's generators seeded from
    the module's name, so it is reproducible), before the rules write theirs.

    Seeds: parameter ``name`` (its qualified name, ``"layer1.0.conv1.weight"``)
    is seeded with :func:`parameter_seed` ``(seed, name)``, at call index 0, so
    the result does not depend on construction or iteration order, and a Keras
    twin built with ``initializer(seed=parameter_seed(seed, name))`` gets the
    same values. ``seed=None`` resolves one seed by
    :func:`~fanin.torch.resolve_seed` (``generator``, else
    ``fanin.set_random_seed``, else ``torch.manual_seed``). A parameter shared by
    several modules (tied weights) is initialized once: by the rule of an
    ``Embedding`` among them (a tied output head takes the token embedding's
    rule), else under its lexicographically smallest name.

    Failure changes nothing: every rule first runs on a meta twin of its
    parameter (validating arguments and dtype without computing values), and
    only then are parameters written. (A function in ``rules`` must therefore
    accept meta tensors, as fanin's and ``torch.nn.init``'s do.) Meta parameters
    and the uninitialized parameters of lazy modules are not written.

    ``kernel=`` / ``bias=`` (the earlier interface) override every rank >= 2
    parameter / every bias outside norms with one initializer (None: leave
    them alone). Returns ``module``.

    >>> import torch, fanin
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> _ = init_module_(net, seed=0)
    >>> k = fanin.GlorotUniform(seed=parameter_seed(0, "2.weight"))((8, 2))
    >>> bool((net[2].weight.detach().numpy() == k.T).all()), float(net[2].bias.detach().abs().sum())
    (True, 0.0)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"init_module_() expects a torch.nn.Module, got "
                        f"{type(module).__name__}.")
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}.")
    rule = _module_rule(module, rules, base, kernel, bias)
    writes, unmatched = [], []
    for p, qual, mod, local in _parameters(module):
        write = rule(qual, mod, local, p)
        if write is None:
            unmatched.append((p, qual, mod, local))
        elif write is not _leave:
            writes.append((p, qual, write))
    if unmatched and missing == "error":
        raise _missing_error(unmatched, module)
    owners = _resets(unmatched, module) if missing == "reset" else {}
    for p, qual, write in writes:  # validate everything before writing anything
        write(_twin(p), 0)
    seed = resolve_seed(seed, generator)
    _reset(owners, seed)
    for p, qual, write in writes:
        if not is_meta(p):
            write(p, parameter_seed(seed, qual))
    return module
