"""init_module_: no parameter left silently, the layers real models define, failure changes nothing."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import fanin  # noqa: E402
import fanin.torch as ft  # noqa: E402

nn = torch.nn
ps = ft.parameter_seed


def bits(t):
    t = t.detach().contiguous()
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def same(a, b):
    if isinstance(b, np.ndarray):
        b = torch.from_numpy(np.ascontiguousarray(b))
    return a.shape == b.shape and torch.equal(bits(a), bits(b))


def snapshot(m):
    return {k: bits(v).clone() for k, v in m.state_dict().items()}


def unchanged(m, before):
    return all(torch.equal(bits(v), before[k]) for k, v in m.state_dict().items())


class ScaleNorm(nn.Module):
    """A norm defined by a model (as HF's LlamaRMSNorm): found by its class name."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n))


class Conv1D(nn.Module):
    """GPT-2's transposed Linear (transformers.pytorch_utils.Conv1D): weight (in, out)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.empty(nf))


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.norm = ScaleNorm(6)
        self.proj = Conv1D(5, 6)
        self.scale = nn.Parameter(torch.full((5,), 7.0))
        self.rel_pos = nn.Parameter(torch.full((3, 2, 2), 7.0))


def test_unmatched_parameters_are_an_error_naming_them_and_nothing_is_written():
    m = Custom()
    before = snapshot(m)
    for rules in ("keras", "torch"):
        with pytest.raises(ValueError) as err:
            ft.init_module_(m, rules=rules, seed=0)
        message = str(err.value)
        assert "'scale'" in message and "(5,)" in message and "missing='keep'" in message
        assert "rules={" in message and "Nothing was written" in message
        assert unchanged(m, before)
    # keras rules match the rank-3 table (any rank >= 2 is a kernel); torch's do not
    assert "'rel_pos'" not in str(pytest.raises(ValueError, ft.init_module_, m, seed=0).value)
    with pytest.raises(ValueError, match="'rel_pos'"):
        ft.init_module_(m, rules="torch", seed=0)


def test_missing_keep_and_a_mapping():
    m = ft.init_module_(Custom(), seed=1, missing="keep")
    assert (m.scale == 7).all() and not (m.rel_pos == 7).all()
    m = ft.init_module_(Custom(), rules={"scale": "ones"}, seed=1)
    assert (m.scale == 1).all()
    with pytest.raises(ValueError, match="missing must be one of"):
        ft.init_module_(Custom(), missing="skip")


def test_missing_reset_runs_the_owners_reset_reproducibly():
    class WithReset(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.gate = nn.Parameter(torch.zeros(3))

        def reset_parameters(self):
            nn.init.uniform_(self.gate, 2.0, 3.0)

    make = lambda: nn.Sequential(WithReset())  # noqa: E731
    a = ft.init_module_(make(), seed=4, missing="reset")
    torch.manual_seed(123)  # torch's global state does not matter
    b = ft.init_module_(make(), seed=4, missing="reset")
    assert ((a[0].gate >= 2) & (a[0].gate < 3)).all() and same(a[0].gate, b[0].gate)
    assert same(a[0].lin.weight, fanin.GlorotUniform(seed=ps(4, "0.lin.weight"))((3, 3)).T)
    with pytest.raises(ValueError, match="no reset_parameters"):
        ft.init_module_(Custom(), seed=0, missing="reset")


@pytest.mark.parametrize("rules", ["keras", "torch"])
def test_norms_by_class_name_and_gpt2_conv1d(rules):
    m = ft.init_module_(Custom(), rules=rules, seed=2, missing="keep")
    assert (m.norm.weight == 1).all()
    assert (m.proj.bias == 0).all()
    if rules == "keras":  # (in, out) already is the Keras Dense kernel: no permutation
        assert same(m.proj.weight, fanin.GlorotUniform(seed=ps(2, "proj.weight"))((6, 5)))
    else:  # its own constructor's N(0, 0.02**2)
        assert same(m.proj.weight, ft.normal_(torch.empty(6, 5), std=0.02,
                                              seed=ps(2, "proj.weight")))


@pytest.mark.parametrize("rules", ["keras", "torch"])
def test_tied_embedding_takes_the_embedding_rule(rules):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 50, bias=False)  # "head" < "wte": the old owner
            self.head.weight = self.wte.weight

    m = ft.init_module_(Tied(), rules=rules, seed=3)
    assert m.head.weight is m.wte.weight
    if rules == "keras":
        want = fanin.RandomUniform(-0.05, 0.05, seed=ps(3, "wte.weight"))((50, 8))
    else:
        want = ft.normal_(torch.empty(50, 8), seed=ps(3, "wte.weight"))
    assert same(m.wte.weight, want)


class Stack(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(3, 3) for _ in range(n))


def _failing(p, seed):
    raise RuntimeError("this rule fails")


def _too_wide(p, seed):
    ft.uniform_(p, -3e38, 3e38, seed=seed)  # torch's RuntimeError: wider than float32


@settings(max_examples=30, deadline=None, derandomize=True)
@given(n=st.integers(1, 5), data=st.data(), rules=st.sampled_from(["keras", "torch"]),
       value=st.sampled_from([_failing, _too_wide, ft.kaiming_normal_, "orthogonal"]))
def test_a_failing_rule_anywhere_changes_nothing(n, data, rules, value):
    """One rule that fails, on any parameter of any layer: no parameter changes."""
    m = Stack(n)
    names = [name for name, _ in m.named_parameters()]
    target = data.draw(st.sampled_from(names))
    if value in (ft.kaiming_normal_, "orthogonal"):  # fail on a bias (fewer than 2 dims)
        target = target.replace("weight", "bias")
    before = snapshot(m)
    with pytest.raises((RuntimeError, ValueError)):
        ft.init_module_(m, rules={target: value}, base=rules, seed=0)
    assert unchanged(m, before)


def test_a_rule_failing_on_a_later_parameter_changes_nothing():
    m = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    before = snapshot(m)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ft.init_module_(m, rules={"*.bias": ft.kaiming_normal_}, seed=0)
    assert unchanged(m, before)


def test_a_failing_call_takes_no_seed():
    m = Custom()  # (its construction draws from torch's generator)
    state = torch.get_rng_state()
    with pytest.raises(ValueError):
        ft.init_module_(m, seed=None)
    assert torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------- #
# Hugging Face models built from small configs (no weights downloaded)
# --------------------------------------------------------------------------- #

HF = importlib.util.find_spec("transformers") is not None


def hf_models():
    """name -> a function building the model (64 wide, 2 layers, vocabulary 300)."""
    import transformers as tf
    return {
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            intermediate_size=128, vocab_size=300)),
        "gpt2": lambda: tf.GPT2LMHeadModel(tf.GPT2Config(
            n_embd=64, n_layer=2, n_head=2, vocab_size=300, n_positions=64, bos_token_id=0,
            eos_token_id=0)),
        "bert": lambda: tf.BertForMaskedLM(tf.BertConfig(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            vocab_size=300, max_position_embeddings=64)),
    }


def hf_loss(model):
    ids = torch.arange(32).reshape(2, 16) * 7 % 300
    with torch.no_grad():
        return float(model(input_ids=ids, labels=ids).loss)


@pytest.mark.slow
@pytest.mark.skipif(not HF, reason="transformers not installed")
@pytest.mark.parametrize("rules", ["keras", "torch"])
def test_hf_models_every_parameter_written_and_loss_finite(rules):
    for name, make in hf_models().items():
        m = make()
        with torch.no_grad():
            for p in m.parameters():  # stands for the memory of to_empty()
                p.fill_(math.nan)
        ft.init_module_(m, rules=rules, seed=0)
        left = [n for n, p in m.named_parameters() if not torch.isfinite(p).all()]
        assert left == [], (name, left)
        assert math.isfinite(hf_loss(m)), name
        twin = ft.init_module_(make(), rules=rules, seed=0)
        for (n, a), b in zip(m.named_parameters(), twin.parameters()):
            assert same(a, b), (name, n)
    gpt2 = ft.init_module_(hf_models()["gpt2"](), rules=rules, seed=1)
    wte = gpt2.transformer.wte.weight
    assert gpt2.lm_head.weight is wte  # the tie, initialized by the embedding's rule
    if rules == "keras":
        assert float(wte.detach().abs().max()) < 0.05
    else:
        assert abs(float(wte.detach().std()) - 1) < 0.05  # N(0, 1) over 19,200 values (sd ~0.005)
