"""The library as a PyTorch user writes it: one test per habit. Comparisons with PyTorch read its
stored values (tests/fixtures/habits, made by tests/fixtures/make_habits_fixtures.py); torch is
never needed to run them."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "habits.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


# ----------------------------------------------------------------- names
def test_subpackages_are_reachable_from_import_dlpy():
    code = ("import sys, dlpy; assert 'dlpy.nn' not in sys.modules; "
            "print(dlpy.nn.Linear.__name__, dlpy.optim.SGD.__name__, dlpy.data.DataLoader.__name__,"
            " dlpy.graph.to_dot.__name__, dlpy.functional.relu.__name__,"
            " dlpy.autograd.grad.__name__, dlpy.nn.utils.clip_grad_norm_.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Linear", "SGD", "DataLoader", "to_dot", "relu", "grad",
                                  "clip_grad_norm_"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dlpy.nope  # noqa: B018


@pytest.mark.parametrize("module", ["dlpy", "dlpy.functional", "dlpy.nn", "dlpy.optim",
                                    "dlpy.data", "dlpy.optim.lr_scheduler", "dlpy.autograd",
                                    "dlpy.nn.utils"])
def test_all_is_accurate(module):
    mod = __import__(module, fromlist=["_"])
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert missing == []
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_one_attention_name_the_pytorch_one():
    assert "scaled_dot_product_attention" in F.__all__
    assert not hasattr(F, "attention")


def test_conv2d_and_max_pool2d_in_functional():
    x = dlpy.randn(1, 1, 4, 4)
    w = dlpy.ones(2, 1, 3, 3)
    assert F.conv2d(x, w, padding=1).size() == (1, 2, 4, 4)
    assert F.max_pool2d(x, 2).shape == (1, 1, 2, 2)


# ----------------------------------------------------------------- making tensors
def test_tensor_and_factories():
    t = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad and t.tolist() == [[1, 2], [3, 4]]
    array = np.arange(3.0)
    copied = dlpy.tensor(array)
    array[0] = 9
    assert copied.tolist() == [0, 1, 2]  # torch.tensor copies
    assert dlpy.zeros(2, 3).tolist() == [[0] * 3] * 2
    assert dlpy.ones((2,), dtype=np.float64).dtype == np.float64
    assert dlpy.arange(4).tolist() == [0, 1, 2, 3] and dlpy.arange(4).dtype == np.int64
    assert dlpy.arange(0, 1, 0.5).tolist() == [0.0, 0.5]
    dlpy.manual_seed(0)
    a = dlpy.randn(3, 2)
    dlpy.manual_seed(0)
    np.testing.assert_array_equal(a.numpy(), dlpy.randn(3, 2).numpy())
    with pytest.raises(ValueError, match="non-negative ints"):
        dlpy.zeros(2, -1)


# ----------------------------------------------------------------- tensor methods
def test_view_size_tolist():
    x = dlpy.arange(6.0).view(2, 3)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3 and x.shape == (2, 3)
    assert x.numel() == 6
    assert x.view(-1).tolist() == [0, 1, 2, 3, 4, 5]
    assert dlpy.tensor(2.5).tolist() == 2.5


def test_requires_grad_():
    w = dlpy.zeros(3).requires_grad_()
    assert w.requires_grad
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, [2, 2, 2])
    with pytest.raises(RuntimeError, match="only a leaf"):
        (w * 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="floating point"):
        dlpy.arange(3).requires_grad_()


def test_astype_and_to_keep_the_gradient():
    x = dlpy.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(np.float64)
    assert y.dtype == np.float64 and x.astype("float16").dtype == np.float16
    assert x.to("cpu") is x
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2, 4])
    with pytest.raises(TypeError, match="float dtype"):
        x.astype(np.int64)
    assert dlpy.tensor([1.7]).detach().astype(np.int64).tolist() == [1]


# ----------------------------------------------------------------- loss modules
@pytest.mark.parametrize("name", ["CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_pytorch(name, reduction, reference):
    logits, target = reference[f"loss:{name}:input"], reference[f"loss:{name}:target"]
    x = Tensor(logits, requires_grad=True)
    loss = getattr(dlpy.nn, name)(reduction=reduction)(x, target)
    expected = reference[f"loss:{name}:{reduction}:output"]
    assert loss.shape == expected.shape
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12, atol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, reference[f"loss:{name}:{reduction}:grad"],
                               rtol=1e-12, atol=1e-12)


# the same cases as CE_CASES in tests/fixtures/make_habits_fixtures.py
CE_OPTIONS = {
    "ignore": {},
    "ignore_one": {"ignore_index": 1},
    "smooth": {"label_smoothing": 0.2},
    "ignore_smooth": {"label_smoothing": 0.1},
    "prob_smooth": {"label_smoothing": 0.1},
    "weight": {"weight": [0.5, 1.0, 2.0, 1.5]},
    "weight_ignore_smooth": {"weight": [0.5, 1.0, 2.0, 1.5], "label_smoothing": 0.2},
    "prob_weight_smooth": {"weight": [0.5, 1.0, 2.0, 1.5], "label_smoothing": 0.1},
}


@pytest.mark.parametrize("case", sorted(CE_OPTIONS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index_and_label_smoothing_match_pytorch(case, reduction,
                                                                      reference):
    logits, target = reference[f"ce:{case}:input"], reference[f"ce:{case}:target"]
    x = Tensor(logits, requires_grad=True)
    loss = dlpy.nn.CrossEntropyLoss(reduction=reduction, **CE_OPTIONS[case])(x, target)
    np.testing.assert_allclose(loss.numpy(), reference[f"ce:{case}:{reduction}:output"],
                               rtol=1e-12, atol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, reference[f"ce:{case}:{reduction}:grad"], rtol=1e-12,
                               atol=1e-12)


def test_cross_entropy_options_gradcheck_and_edges():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 3))
    labels = np.array([2, -100, 0, 1, -100])
    for reduction in ("mean", "none"):
        assert gradcheck(lambda x, r=reduction: F.cross_entropy(x, labels, r,
                                                                label_smoothing=0.3),
                         Tensor(logits, requires_grad=True))
    # every row ignored: the mean is 0 / 0 (nan, as PyTorch) and the gradient is zero
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, np.full(5, -100))
    assert np.isnan(loss.item())
    loss.backward()
    assert not x.grad.any()
    # only ignore_index is exempt from the range check
    with pytest.raises(ValueError, match=r"lie in \[0, 3\) or be ignore_index \(-100\), got "
                                         r"values from -1 to 2"):
        F.cross_entropy(Tensor(logits), np.array([2, -1, 0, 1, -100]))
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        F.cross_entropy(Tensor(logits), labels, label_smoothing=1.5)
    assert dlpy.nn.CrossEntropyLoss(label_smoothing=0.1).label_smoothing == 0.1
    assert repr(dlpy.nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss()"  # torch's
    weight = np.array([0.2, 1.0, 3.0])
    targets = np.random.default_rng(1).dirichlet(np.ones(3), size=5)
    for target in (labels, targets):
        assert gradcheck(lambda x, t=target: F.cross_entropy(x, t, label_smoothing=0.1,
                                                              weight=weight),
                         Tensor(logits, requires_grad=True))
    with pytest.raises(ValueError, match=r"weight tensor should be defined either for all 3 "
                                         r"classes or no classes but got weight tensor of shape: "
                                         r"\[2\]"):  # torch's message, checked before the labels
        F.cross_entropy(Tensor(logits), labels, weight=[1.0, 2.0])


def test_loss_module_bad_reduction():
    with pytest.raises(ValueError, match="MSELoss: reduction must be mean, sum or none"):
        dlpy.nn.MSELoss(reduction="avg")


def test_scaled_dot_product_attention_pytorch_mask_spelling(reference):
    q, k, v = (Tensor(reference[f"sdpa:{name}"]) for name in "qkv")
    cases = [(dict(attn_mask=reference["sdpa:allowed"]), "sdpa:out_mask"),
             (dict(is_causal=True), "sdpa:out_causal")]
    for ours, expected in cases:
        out = F.scaled_dot_product_attention(q, k, v, **ours)
        np.testing.assert_allclose(out.numpy(), reference[expected], atol=1e-12)


def test_clamp_by_tensors_layer_norm_by_shape_div_rounding_and_the_dtype_class():
    # torch 2.13: x.clamp(min=lo, max=hi) = [2., 4., 3.], grads x [0, 0, 1], lo [1, 0, 0],
    # hi [0, 1, 0] (a tie keeps x's gradient)
    x = dlpy.tensor([1.0, 5.0, 3.0], requires_grad=True)
    lo = dlpy.tensor([2.0, 2.0, 3.0], requires_grad=True)
    hi = dlpy.tensor([4.0, 4.0, 4.0], requires_grad=True)
    y = x.clamp(min=lo, max=hi)
    y.sum().backward()
    assert y.tolist() == [2.0, 4.0, 3.0] and x.grad.tolist() == [0.0, 0.0, 1.0]
    assert lo.grad.tolist() == [1.0, 0.0, 0.0] and hi.grad.tolist() == [0.0, 1.0, 0.0]
    assert dlpy.clamp(dlpy.tensor([1.0, 5.0]), dlpy.tensor(4.0), dlpy.tensor(2.0)).tolist() == \
        [2.0, 2.0]  # min > max: max, as torch
    rng = np.random.default_rng(0)
    v = dlpy.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = dlpy.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    by_shape = F.layer_norm(v, (3, 4), w, None, 1e-5)  # torch's (input, normalized_shape, ...)
    flat = v.reshape(2, 12)
    mean = flat.mean(1, keepdim=True)
    var = ((flat - mean) ** 2).mean(1, keepdim=True)
    manual = ((flat - mean) / (var + 1e-5).sqrt()).reshape(2, 3, 4) * w
    np.testing.assert_allclose(by_shape.data, manual.data, rtol=1e-10, atol=1e-12)
    by_shape.sum().backward()
    assert w.grad.shape == (3, 4) and v.grad.shape == (2, 3, 4)
    assert F.layer_norm(v, 4).shape == F.layer_norm(v, None, None).shape == (2, 3, 4)
    assert dlpy.div(dlpy.tensor([7, -7]), 2, rounding_mode="floor").tolist() == [3, -4]
    assert isinstance(dlpy.float32, dlpy.dtype) and isinstance(v.dtype, dlpy.dtype)
    assert not isinstance(3, dlpy.dtype)
    with pytest.raises(TypeError, match="cannot create 'dlpy.dtype' instances"):
        dlpy.dtype()
