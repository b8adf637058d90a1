"""Mixtral (sparse mixture of experts) against transformers' logits, router logits, auxiliary
loss, gradients and generate (tests/fixtures/make_hf_decoder_more_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
from dlpy.models import AutoModelForCausalLM, _hf
from dlpy.models.mixtral import (
    MixtralConfig,
    MixtralExperts,
    MixtralForCausalLM,
    MixtralModel,
    load_balancing_loss,
)

from .decoder_more_fixture import (
    TOL,
    arrays,
    check_logits_hidden_greedy,
    check_training_step,
    configs,
    model,
    state,
)


def test_logits_hidden_states_and_greedy_equal_transformers():
    check_logits_hidden_greedy("mixtral")


def test_router_logits_and_aux_loss_equal_transformers():
    data, lm = arrays(), model("mixtral")
    mask = data["mask"]  # no labels predicted from the padding (as the fixture)
    labels = np.where(np.concatenate([mask[:, :1], mask[:, :-1]], 1) == 0, -100, data["labels"])
    with dlpy.no_grad():
        out = lm(data["ids"], attention_mask=data["mask"], labels=labels,
                 output_router_logits=True)
        plain = lm(data["ids"], attention_mask=data["mask"])
    assert len(out.router_logits) == 2 and out.router_logits[0].shape == (14, 4)
    real = data["mask"].reshape(-1).astype(bool)  # padding rows route garbage, as there
    np.testing.assert_allclose(out.router_logits[0].data[real],
                               data["mixtral/router_logits"][real], **TOL)
    np.testing.assert_allclose(out.aux_loss.item(), data["mixtral/aux_loss"], rtol=1e-5)
    np.testing.assert_allclose(out.loss.item(), data["mixtral/loss_with_aux"], rtol=1e-5)
    assert plain.router_logits is None and plain.aux_loss is None  # off by default


def test_training_step_with_aux_loss_matches_transformers():
    mask = arrays()["mask"]
    labels = np.where(np.concatenate([mask[:, :1], mask[:, :-1]], 1) == 0, -100,
                      arrays()["labels"])
    check_training_step("mixtral", labels=labels, output_router_logits=True, attention_mask=mask)


def test_experts_run_only_on_their_tokens():
    config = MixtralConfig(hidden_size=8, intermediate_size=4, num_attention_heads=2,
                           num_key_value_heads=2,
                           num_local_experts=4)
    experts = MixtralExperts(config, np.random.default_rng(0))
    x = dlpy.Tensor(np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32))
    index = np.array([[0, 2], [2, 0], [0, 2], [2, 0], [0, 2]])
    weights = dlpy.Tensor(np.full((5, 2), 0.5, np.float32))
    out = experts(x, index, weights)
    out.sum().backward()
    gate_up, down = experts.gate_up_proj.data, experts.down_proj.data

    def mlp(e, h):  # one expert by hand
        g, u = np.split(h @ gate_up[e].T, 2, axis=-1)
        return (g / (1 + np.exp(-g)) * u) @ down[e].T

    np.testing.assert_allclose(out.data, 0.5 * (mlp(0, x.data) + mlp(2, x.data)), rtol=1e-5,
                               atol=1e-6)
    grad = experts.gate_up_proj.grad
    assert not grad[[1, 3]].any() and grad[[0, 2]].any()  # experts 1 and 3 never ran


def test_load_balancing_loss_formula():
    logits = dlpy.Tensor(np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)))
    # top-1: expert 0 once, expert 2 once -> f = (.5, 0, .5); P = (.4, .25, .35)
    expected = 3 * (0.5 * 0.4 + 0.5 * 0.35)
    np.testing.assert_allclose(load_balancing_loss([logits], 3, 1).item(), expected, rtol=1e-6)
    masked = load_balancing_loss([logits], 3, 1, attention_mask=np.array([[1, 0]]))
    np.testing.assert_allclose(masked.item(), 3 * 0.7, rtol=1e-6)  # the first row only


def test_per_expert_checkpoints_load_and_round_trip(tmp_path):
    data = arrays()
    old = {}  # transformers 4's layout: block_sparse_moe.experts.N.w1 / w3 (gate, up), w2
    for key, value in state("mixtral").items():
        key = key.replace(".mlp.", ".block_sparse_moe.")
        if key.endswith("experts.gate_up_proj"):
            gate, up = np.split(value, 2, axis=1)
            for e in range(len(value)):
                old[key.replace("gate_up_proj", f"{e}.w1.weight")] = gate[e]
                old[key.replace("gate_up_proj", f"{e}.w3.weight")] = up[e]
        elif key.endswith("experts.down_proj"):
            for e in range(len(value)):
                old[key.replace("down_proj", f"{e}.w2.weight")] = value[e]
        else:
            old[key] = value
    _hf.write_pretrained(tmp_path / "old", configs()["mixtral"], old)
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "old")
    assert type(lm) is MixtralForCausalLM
    logits = lm(data["ids"]).logits.data
    np.testing.assert_array_equal(logits, model("mixtral")(data["ids"]).logits.data)
    lm.save_pretrained(tmp_path / "new")  # transformers 5's fused names
    assert "model.layers.0.mlp.experts.gate_up_proj" in _hf.read_state_dict(tmp_path / "new")
    body = MixtralModel.from_pretrained(tmp_path / "new")
    np.testing.assert_array_equal(body.layers[1].mlp.gate.weight.data,
                                  lm.model.layers[1].mlp.gate.weight.data)


def test_errors():
    with pytest.raises(ValueError, match=r"num_experts_per_tok must lie in \[1, "
                                         r"num_local_experts=4\], got 5"):
        MixtralConfig(num_local_experts=4, num_experts_per_tok=5)


def test_tiny_mixtral_overfits_a_sequence():
    config = MixtralConfig(vocab_size=12, hidden_size=16, intermediate_size=16,
                           num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                           num_local_experts=4, router_aux_loss_coef=0.01, eos_token_id=None)
    lm = MixtralForCausalLM(config, rng=np.random.default_rng(0)).train()
    ids = np.array([[1, 5, 7, 2, 9, 4, 11, 3]])
    opt = dlpy.optim.AdamW(lm.parameters(), lr=3e-2)
    for _ in range(40):
        loss = lm(ids, labels=ids, output_router_logits=True).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    lm.eval()
    np.testing.assert_array_equal(lm.generate(ids[:, :2], max_new_tokens=6).data, ids)
