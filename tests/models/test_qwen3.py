"""Qwen3 and Qwen3-MoE against transformers' logits, hidden states, losses, router logits,
gradients and greedy generate (tests/fixtures/make_qwen3_fixtures.py), the Auto classes and
save_pretrained's names."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy.models import AutoModel, AutoModelForCausalLM, _hf
from dlpy.models.qwen3 import (
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3Model,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
    Qwen3MoeModel,
)

from .decoder_more_fixture import check_step_against
from .qwen3_fixture import TOL, arrays, configs, model, real, state

CASES = ["qwen3", "qwen3_sliding", "qwen3_moe"]


@pytest.mark.parametrize("case", CASES)
def test_logits_hidden_and_greedy_equal_transformers(case):
    data, lm = arrays(), model(case)
    with dlpy.no_grad():
        out = lm(data["ids"], attention_mask=data["mask"])
        body = lm.base_model(data["ids"], attention_mask=data["mask"])
    np.testing.assert_allclose(real(out.logits.data), real(data[f"{case}/logits"]), **TOL)
    np.testing.assert_allclose(real(body.last_hidden_state.data), real(data[f"{case}/hidden"]),
                               **TOL)
    for use_cache in (True, False):
        tokens = lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=8,
                             use_cache=use_cache)
        np.testing.assert_array_equal(tokens.data, data[f"{case}/greedy"],
                                      err_msg=f"use_cache={use_cache}")


@pytest.mark.parametrize("case", CASES)
def test_training_step_matches_transformers(case):
    data = arrays()
    lm = model(case).train()
    kwargs = {}
    labels = data["labels"]
    if case == "qwen3_moe":  # with the aux loss, padding left out of it; labels after padding -100
        mask = data["mask"]
        labels = np.where(np.concatenate([mask[:, :1], mask[:, :-1]], 1) == 0, -100, labels)
        kwargs = dict(output_router_logits=True, attention_mask=mask)
    check_step_against(data, lm, case, labels, **kwargs)


def test_moe_router_logits_aux_loss_and_norm_topk_prob():
    data, lm = arrays(), model("qwen3_moe")
    mask = data["mask"]
    labels = np.where(np.concatenate([mask[:, :1], mask[:, :-1]], 1) == 0, -100,
                      data["labels"])
    with dlpy.no_grad():
        out = lm(data["ids"], attention_mask=mask, labels=labels, output_router_logits=True)
        normed = model("qwen3_moe_norm", "qwen3_moe")(data["ids"], attention_mask=mask)
    assert len(out.router_logits) == 1  # layer 1 is dense (mlp_only_layers)
    assert type(lm.model.layers[1].mlp).__name__ == "LlamaMLP"
    router = out.router_logits[0].data.reshape(2, 7, 4)  # the padding's rows are not compared
    np.testing.assert_allclose(real(router), real(data["qwen3_moe/router_logits"].reshape(
        2, 7, 4)), **TOL)
    np.testing.assert_allclose(out.aux_loss.item(), data["qwen3_moe/aux_loss"], rtol=1e-5)
    np.testing.assert_allclose(out.loss.item(), data["qwen3_moe/loss_with_aux"], rtol=1e-5)
    np.testing.assert_allclose(real(normed.logits.data), real(data["qwen3_moe_norm/logits"]),
                               **TOL)
    assert not np.allclose(real(normed.logits.data), real(data["qwen3_moe/logits"]), atol=1e-3)


def test_config_fields_as_transformers():
    config = Qwen3Config(num_hidden_layers=4, use_sliding_window=True, sliding_window=8,
                         max_window_layers=2)
    assert config.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    assert config.layer_windows() == [None, None, 8, 8]
    assert Qwen3Config(num_hidden_layers=2).sliding_window is None  # use_sliding_window False
    assert model("qwen3_sliding").config.layer_windows() == [None, 3, 3]
    lm = model("qwen3")
    assert lm.model.layers[0].self_attn.q_proj.weight.shape == (64, 32)  # head_dim 16
    assert lm.model.layers[0].self_attn.q_norm.weight.shape == (16,)
    tied = model("qwen3_sliding")
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert tied.model.layers[0].self_attn.o_proj.bias is not None  # attention_bias
    moe = Qwen3MoeConfig.from_dict(dict(configs()["qwen3_moe"], use_sliding_window=True,
                                        sliding_window=3))
    assert moe.num_experts == moe.num_local_experts == 4
    assert moe.layer_windows() == [3, 3]  # every layer slides, as transformers' Qwen3-MoE
    renamed = dict(configs()["qwen3_moe"])
    renamed["num_experts"] = renamed.pop("num_local_experts")
    assert Qwen3MoeConfig.from_dict(renamed).num_local_experts == 4
    with pytest.raises(ValueError, match=r"num_experts_per_tok must lie in \[1, "
                                         r"num_local_experts=4\], got 5"):
        Qwen3MoeConfig(num_local_experts=4, num_experts_per_tok=5)
    with pytest.raises(ValueError, match="decoder_sparse_step must be >= 1, got 0"):
        Qwen3MoeConfig(decoder_sparse_step=0)


def test_auto_save_pretrained_names_and_older_expert_layout(tmp_path):
    data = arrays()
    for case, head, body in (("qwen3", Qwen3ForCausalLM, Qwen3Model),
                             ("qwen3_moe", Qwen3MoeForCausalLM, Qwen3MoeModel)):
        _hf.write_pretrained(tmp_path / case, configs()[case], state(case))
        lm = AutoModelForCausalLM.from_pretrained(tmp_path / case)
        assert type(lm) is head
        assert type(AutoModel.from_pretrained(tmp_path / case)) is body
        lm.save_pretrained(tmp_path / f"{case}_dlpy")
        assert set(_hf.read_state_dict(tmp_path / f"{case}_dlpy")) == set(state(case))
        saved = json.loads((tmp_path / f"{case}_dlpy" / "config.json").read_text())
        assert saved["model_type"] == case
        again = AutoModelForCausalLM.from_pretrained(tmp_path / f"{case}_dlpy")
        np.testing.assert_array_equal(again(data["ids"]).logits.data,
                                      lm(data["ids"]).logits.data)
    # a checkpoint with one gate_proj / up_proj / down_proj a expert (older Qwen-MoE layout)
    old = {}
    for key, value in state("qwen3_moe").items():
        if key.endswith("mlp.experts.gate_up_proj"):
            inner = value.shape[1] // 2
            for e in range(value.shape[0]):
                head = key[:-len("gate_up_proj")] + str(e)
                old[f"{head}.gate_proj.weight"] = value[e, :inner]
                old[f"{head}.up_proj.weight"] = value[e, inner:]
        elif key.endswith("mlp.experts.down_proj"):
            for e in range(value.shape[0]):
                old[key[:-len("down_proj")] + f"{e}.down_proj.weight"] = value[e]
        else:
            old[key] = value
    lm = model("qwen3_moe")
    lm.load_hf_state_dict(old)
    with dlpy.no_grad():
        logits = lm(data["ids"], attention_mask=data["mask"]).logits.data
    np.testing.assert_allclose(real(logits), real(data["qwen3_moe/logits"]), **TOL)
