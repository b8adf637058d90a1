"""dlpy.nn.utils.prune against torch.nn.utils.prune's masks in
tests/fixtures/special_prune/prune.npz (made by make_special_prune_fixtures.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import dlpy.nn as nn
from dlpy import Tensor
from dlpy.nn.utils import prune

FIXTURE = Path(__file__).parents[1] / "fixtures" / "special_prune" / "prune.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return dict(data)


def linear(weight, bias) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    layer.load_state_dict({"weight": weight, "bias": bias})
    return layer


def test_both_import_forms_give_the_module():
    module = importlib.import_module("dlpy.nn.utils.prune")
    assert module is prune is importlib.import_module("dlpy.nn.prune")
    from dlpy.nn.utils import clip_grad_norm_, parametrizations  # the old names still import

    assert callable(clip_grad_norm_) and parametrizations is not None


def test_iterative_pruning_composes_masks_as_torch(ref):
    layer = linear(ref["w1"], ref["b1"])
    prune.l1_unstructured(layer, "weight", amount=0.3)
    np.testing.assert_array_equal(layer.weight_mask, ref["l1"])
    assert isinstance(layer.weight_mask, Tensor)  # a buffer, as torch's
    prune.l1_unstructured(layer, "weight", amount=5)
    np.testing.assert_array_equal(layer.weight_mask, ref["l1_l1"])
    prune.ln_structured(layer, "weight", amount=0.34, n=2, dim=0)
    np.testing.assert_array_equal(layer.weight_mask, ref["l1_l1_ln"])
    hooks = [h for h in layer._forward_pre_hooks.values()
             if isinstance(h, prune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "L1Unstructured",
                                                    "LnStructured"]
    np.testing.assert_allclose(layer(Tensor(ref["x"])).data, ref["iterative:y"], rtol=1e-14)
    assert sorted(layer.state_dict()) == ["bias", "weight_mask", "weight_orig"]
    assert [name for name, _ in layer.named_parameters()] == ["bias", "weight_orig"]


def test_pruned_torch_state_dict_loads(ref):
    layer = linear(ref["w2"][:, :2].repeat(3, 0)[:4].repeat(3, 1), ref["b1"])  # other values
    prune.identity(layer, "weight")
    layer.load_state_dict({k[6:]: v for k, v in ref.items() if k.startswith("state:")})
    np.testing.assert_allclose(layer(Tensor(ref["x"])).data, ref["iterative:y"], rtol=1e-14)


@pytest.mark.parametrize("n,tag", [(1, "1"), (2, "2"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_ln_structured_norms(ref, n, tag):
    layer = linear(ref["w1"], ref["b1"])
    prune.ln_structured(layer, "weight", amount=0.5, n=n, dim=1)
    np.testing.assert_array_equal(layer.weight_mask, ref[f"ln{tag}"])


def test_importance_scores(ref):
    layer = linear(ref["w1"], ref["b1"])
    prune.l1_unstructured(layer, "weight", amount=0.5, importance_scores=Tensor(ref["scores"]))
    np.testing.assert_array_equal(layer.weight_mask, ref["l1_scores"])


def test_global_unstructured(ref):
    first, second = linear(ref["w1"], ref["b1"]), linear(ref["w2"], ref["b2"])
    prune.l1_unstructured(second, "weight", amount=0.25)
    prune.global_unstructured([(first, "weight"), (second, "weight"), (second, "bias")],
                              pruning_method=prune.L1Unstructured, amount=0.4)
    np.testing.assert_array_equal(first.weight_mask, ref["global:w1"])
    np.testing.assert_array_equal(second.weight_mask, ref["global:w2"])
    np.testing.assert_array_equal(second.bias_mask, ref["global:b2"])


def test_gradient_reaches_orig_only_through_the_mask(ref):
    layer = linear(ref["w1"], ref["b1"])
    prune.l1_unstructured(layer, "weight", amount=0.3)
    layer(Tensor(ref["x"])).sum().backward()
    expected = np.tile(ref["x"].sum(axis=0), (4, 1)) * ref["l1"]
    np.testing.assert_allclose(layer.weight_orig.grad, expected, rtol=1e-14)


def test_hook_recomputes_weight_after_orig_changes(ref):
    layer = linear(ref["w1"], ref["b1"])
    prune.l1_unstructured(layer, "weight", amount=0.3)
    layer.weight_orig.data = layer.weight_orig.data * 2
    layer(Tensor(ref["x"]))
    np.testing.assert_allclose(layer.weight.data, 2 * ref["w1"] * ref["l1"], rtol=1e-15)


def test_remove_makes_it_permanent(ref):
    layer = linear(ref["w1"], ref["b1"])
    prune.l1_unstructured(layer, "weight", amount=0.3)
    assert prune.is_pruned(layer)
    prune.remove(layer, "weight")
    assert not prune.is_pruned(layer)
    assert isinstance(layer.weight, nn.Parameter)
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    np.testing.assert_array_equal(layer.weight.data, ref["w1"] * ref["l1"])
    with pytest.raises(ValueError, match="remove: parameter 'weight' of module Linear has to be"):
        prune.remove(layer, "weight")


def test_is_pruned_sees_submodules(ref):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    assert not prune.is_pruned(model)
    prune.random_unstructured(model[1], "weight", amount=1, rng=np.random.default_rng(0))
    assert prune.is_pruned(model)
    assert model[1].weight_mask.sum() == 1


def test_random_methods_prune_the_right_count():
    layer = nn.Linear(10, 6)
    prune.random_unstructured(layer, "weight", amount=0.25, rng=np.random.default_rng(1))
    assert layer.weight_mask.sum() == 60 - 15
    prune.random_structured(layer, "weight", amount=2, dim=0, rng=np.random.default_rng(2))
    rows = layer.weight_mask.sum(axis=1)
    assert (rows == 0).sum() >= 2 and layer.weight_mask.sum() <= 45
    assert np.all((layer.weight.data == 0) | (layer.weight_mask == 1))


def test_custom_from_mask():
    layer = nn.Linear(2, 2)
    prune.custom_from_mask(layer, "bias", mask=np.array([0.0, 1.0]))
    assert layer.bias.data[0] == 0 and layer.bias_mask.tolist() == [0.0, 1.0]


def test_ties_go_to_the_lower_index():
    layer = nn.Linear(4, 1)
    layer.weight.data = np.array([[1.0, 0.5, 0.5, 0.5]], dtype=np.float32)
    prune.l1_unstructured(layer, "weight", amount=2)
    assert layer.weight_mask.tolist() == [[1.0, 0.0, 0.0, 1.0]]


def test_bad_amounts_and_names():
    layer = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"L1Unstructured: amount=1.5 should either be a float"):
        prune.l1_unstructured(layer, "weight", amount=1.5)
    with pytest.raises(TypeError, match="L1Unstructured: amount must be an int or a float"):
        prune.l1_unstructured(layer, "weight", amount="half")
    with pytest.raises(ValueError, match=r"amount=5 should be smaller than the number of "
                                         r"parameters to prune=4"):
        prune.l1_unstructured(nn.Linear(2, 2), "weight", amount=5)
    with pytest.raises(ValueError, match="prune: module Linear has no tensor 'kernel'"):
        prune.l1_unstructured(nn.Linear(2, 2), "kernel", amount=1)
    with pytest.raises(ValueError, match=r"importance_scores should have the shape"):
        prune.l1_unstructured(nn.Linear(2, 2), "weight", amount=1,
                              importance_scores=np.ones(3))
    with pytest.raises(TypeError, match="global_unstructured: only unstructured methods"):
        prune.global_unstructured([(nn.Linear(2, 2), "weight")], prune.LnStructured,
                                  amount=1, n=2, dim=0)
