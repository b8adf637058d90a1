"""The padding layers (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad 1d-3d),
Upsample / UpsamplingNearest2d / UpsamplingBilinear2d, PixelShuffle / PixelUnshuffle, Unfold /
Fold against PyTorch's layers (tests/fixtures/nn/more_layers.npz); the later loss modules,
PairwiseDistance, CosineSimilarity and EmbeddingBag against their functions; constructor
arguments, reprs, errors, and an EmbeddingBag classifier that learns."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn, optim

from .helpers import fit

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "more_layers.npz"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


TORCH_LAYERS = {
    "zero_pad1d": lambda: nn.ZeroPad1d(2),
    "zero_pad2d": lambda: nn.ZeroPad2d((1, 2, 0, 3)),
    "zero_pad3d": lambda: nn.ZeroPad3d(1),
    "constant_pad1d": lambda: nn.ConstantPad1d((2, 1), 3.5),
    "constant_pad2d_unbatched": lambda: nn.ConstantPad2d(1, -1.0),
    "constant_pad3d": lambda: nn.ConstantPad3d((1, 0, 2, 1, 0, 1), 0.5),
    "reflection_pad1d": lambda: nn.ReflectionPad1d((2, 3)),
    "reflection_pad2d": lambda: nn.ReflectionPad2d((1, 2, 2, 1)),
    "reflection_pad2d_unbatched": lambda: nn.ReflectionPad2d(2),
    "reflection_pad3d": lambda: nn.ReflectionPad3d(1),
    "replication_pad1d": lambda: nn.ReplicationPad1d((3, 1)),
    "replication_pad2d": lambda: nn.ReplicationPad2d((1, 2, 3, 0)),
    "replication_pad3d": lambda: nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)),
    "circular_pad1d": lambda: nn.CircularPad1d((2, 3)),
    "circular_pad2d": lambda: nn.CircularPad2d((1, 2, 3, 0)),
    "circular_pad3d": lambda: nn.CircularPad3d(1),
    "upsample_bilinear": lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"),
    "upsample_linear_size_align": lambda: nn.Upsample(size=7, mode="linear",
                                                      align_corners=True),
    "upsampling_bilinear2d": lambda: nn.UpsamplingBilinear2d(scale_factor=2),
    "upsampling_nearest2d": lambda: nn.UpsamplingNearest2d(size=(5, 7)),
    "pixel_shuffle": lambda: nn.PixelShuffle(2),
    "pixel_unshuffle": lambda: nn.PixelUnshuffle(3),
    "unfold": lambda: nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2),
    "fold": lambda: nn.Fold((7, 8), (2, 3), dilation=2, padding=1, stride=(1, 2)),
}


def load(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {key.split(":", 1)[1]: data[key] for key in data.files
                if key.split(":", 1)[0] == case}


@pytest.mark.parametrize("case", sorted(TORCH_LAYERS))
def test_layer_matches_torch(case):
    record = load(case)
    x = Tensor(record["in0"], requires_grad=True)
    y = TORCH_LAYERS[case]()(x)
    np.testing.assert_allclose(y.data, record["out"], rtol=1e-10, atol=1e-12)
    y.backward(record["grad_out"])
    np.testing.assert_allclose(x.grad, record["grad0"], rtol=1e-10, atol=1e-12)


def test_every_fixture_case_is_tested():
    with np.load(FIXTURE) as data:
        assert {key.split(":", 1)[0] for key in data.files} == set(TORCH_LAYERS)


def test_padding_layers_settings_and_reprs():
    assert nn.ZeroPad2d(2).padding == (2, 2, 2, 2)
    assert nn.ReflectionPad3d((1, 2, 3, 4, 5, 6)).padding == (1, 2, 3, 4, 5, 6)
    assert repr(nn.ZeroPad1d((1, 2))) == "ZeroPad1d((1, 2))"
    assert repr(nn.ConstantPad2d(1, 2.5)) == "ConstantPad2d(padding=(1, 1, 1, 1), value=2.5)"
    assert repr(nn.CircularPad2d((1, 0, 2, 0))) == "CircularPad2d((1, 0, 2, 0))"
    # constant padding takes any rank, as PyTorch's
    assert nn.ConstantPad1d(1, 0.0)(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 3, 4, 7)
    # widths that do not fit the layer are kept, as PyTorch's: F.pad takes or refuses them
    assert nn.ReflectionPad2d((1, 2)).padding == (1, 2)
    assert nn.ReflectionPad2d((1, 2))(Tensor(np.zeros((1, 2, 3)))).shape == (1, 2, 6)
    with pytest.raises(NotImplementedError, match=r"ReflectionPad2d: expected a 2-D "
                                                  r"\(unbatched\) or 3-D input, got 4-D"):
        nn.ReflectionPad2d((1, 2))(Tensor(np.zeros((1, 1, 2, 3))))
    with pytest.raises(RuntimeError, match=r"an even length"):
        nn.ZeroPad1d((1, 2, 3))(Tensor(np.zeros((1, 4))))
    with pytest.raises(ValueError, match=r"ReplicationPad1d: expected a 2-D \(unbatched\) or "
                                         r"3-D input, got 4-D"):
        nn.ReplicationPad1d(1)(Tensor(np.zeros((1, 2, 3, 4))))
    with pytest.raises(ValueError, match=r"pad: reflect needs widths below the size"):
        nn.ReflectionPad1d(3)(Tensor(np.zeros((1, 2, 3))))
    with pytest.raises(TypeError):
        nn.ConstantPad1d(2)  # value is required, as PyTorch's


def test_resample_layers_settings_and_reprs():
    assert nn.Upsample(scale_factor=2).scale_factor == 2.0
    assert nn.Upsample(scale_factor=(2, 3)).scale_factor == (2.0, 3.0)
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(3, 4), mode="bicubic")) == \
        "Upsample(size=(3, 4), mode='bicubic')"
    assert repr(nn.PixelShuffle(3)) == "PixelShuffle(upscale_factor=3)"
    assert repr(nn.Unfold(2)) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=1)"
    assert nn.UpsamplingBilinear2d(scale_factor=2).align_corners is True
    x = Tensor(np.arange(24.0).reshape(1, 2, 3, 4))
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_array_equal(up(x).data, F.interpolate(x, scale_factor=2, mode="bilinear",
                                                            align_corners=True).data)
    np.testing.assert_array_equal(nn.Fold((3, 4), 2)(nn.Unfold(2)(x)).data,
                                  F.fold(F.unfold(x, 2), (3, 4), 2).data)


def test_loss_modules_call_their_functions(rng):
    x = Tensor(rng.uniform(0.1, 0.9, (4, 3)), requires_grad=True)
    x2, x3 = Tensor(rng.standard_normal((4, 3))), Tensor(rng.standard_normal((4, 3)))
    y = rng.choice([-1.0, 1.0], (4, 3))
    weight = rng.uniform(0.5, 2.0, 3)
    labels = np.array([0, 2, 1, 2])
    pairs = [
        (nn.BCELoss(weight, reduction="sum")(x, np.full((4, 3), 0.3)),
         F.binary_cross_entropy(x, np.full((4, 3), 0.3), weight, reduction="sum")),
        (nn.BCEWithLogitsLoss(weight, pos_weight=weight)(x, np.full((4, 3), 0.3)),
         F.binary_cross_entropy_with_logits(x, np.full((4, 3), 0.3), weight=weight,
                                            pos_weight=weight)),
        (nn.MarginRankingLoss(0.5)(x, x2, y), F.margin_ranking_loss(x, x2, y, 0.5)),
        (nn.HingeEmbeddingLoss(0.5, reduction="none")(x, y),
         F.hinge_embedding_loss(x, y, 0.5, reduction="none")),
        (nn.SoftMarginLoss(reduction="sum")(x, y), F.soft_margin_loss(x, y, reduction="sum")),
        (nn.CosineEmbeddingLoss(0.2)(x, x2, y[:, 0]),
         F.cosine_embedding_loss(x, x2, y[:, 0], 0.2)),
        (nn.TripletMarginLoss(0.5, 1, swap=True)(x, x2, x3),
         F.triplet_margin_loss(x, x2, x3, 0.5, 1, swap=True)),
        (nn.MultiLabelSoftMarginLoss(weight)(x, y > 0),
         F.multilabel_soft_margin_loss(x, y > 0, weight)),
        (nn.MultiMarginLoss(2, 0.5, weight)(x, labels),
         F.multi_margin_loss(x, labels, 2, 0.5, weight)),
        (nn.PoissonNLLLoss(False, True, eps=1e-3)(x, x * 3),
         F.poisson_nll_loss(x, x * 3, False, True, eps=1e-3)),
        (nn.GaussianNLLLoss(full=True, eps=0.2)(x, x2, x), F.gaussian_nll_loss(x, x2, x, True,
                                                                              0.2)),
        (nn.PairwiseDistance(1.0, keepdim=True)(x, x2), F.pairwise_distance(x, x2, 1.0,
                                                                           keepdim=True)),
        (nn.CosineSimilarity(0)(x, x2), F.cosine_similarity(x, x2, 0)),
    ]
    for module_value, function_value in pairs:
        np.testing.assert_array_equal(module_value.data, function_value.data)
    assert repr(nn.TripletMarginLoss()) == "TripletMarginLoss()"  # torch's: no settings
    assert repr(nn.MultiMarginLoss()) == "MultiMarginLoss()"
    assert nn.PairwiseDistance(3.0).norm == 3.0  # PyTorch's attribute name


def test_loss_module_errors():
    with pytest.raises(TypeError, match=r"BCEWithLogitsLoss: the first argument is weight, as "
                                        r"PyTorch's; got 'sum' \(write reduction='sum'\)"):
        nn.BCEWithLogitsLoss("sum")
    assert nn.MarginRankingLoss(0.5, None, None, "sum").reduction == "sum"  # torch's order
    with pytest.raises(ValueError, match=r"MultiMarginLoss: p must be 1 or 2, got 3"):
        nn.MultiMarginLoss(3)
    with pytest.raises(ValueError, match=r"SoftMarginLoss: reduction must be mean, sum or none"):
        nn.SoftMarginLoss(reduction="batchmean")


def test_embedding_bag_module(rng):
    bag = nn.EmbeddingBag(10, 4, mode="sum", padding_idx=3, rng=rng)
    assert bag.weight.shape == (10, 4) and bag.weight.dtype == np.float32
    assert not bag.weight.data[3].any()
    assert repr(bag) == "EmbeddingBag(10, 4, mode='sum', padding_idx=3)"
    ids, offsets = np.array([1, 3, 5, 5, 9]), np.array([0, 2])
    psw = rng.standard_normal(5)
    np.testing.assert_array_equal(
        bag(ids, offsets, psw).data,
        F.embedding_bag(ids, bag.weight, offsets, mode="sum", per_sample_weights=psw,
                        padding_idx=3).data)
    assert [name for name, _ in bag.named_parameters()] == ["weight"]
    pretrained = nn.EmbeddingBag.from_pretrained(np.eye(3), mode="max")
    assert not pretrained.weight.requires_grad and pretrained.weight.dtype == np.float64
    np.testing.assert_array_equal(pretrained(np.array([[0, 2]])).data, [[1.0, 0.0, 1.0]])
    scaled = nn.EmbeddingBag(10, 4, mode="sum", scale_grad_by_freq=True)
    scaled(np.array([[2, 2, 5]])).sum().backward()
    np.testing.assert_allclose(scaled.weight.grad[[2, 5]], np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"EmbeddingBag: mode must be sum, mean or max, got "
                                         r"'min'"):
        nn.EmbeddingBag(10, 4, mode="min")
    with pytest.raises(ValueError, match=r"EmbeddingBag: padding_idx must lie in \[-10, 10\), "
                                         r"got 10"):
        nn.EmbeddingBag(10, 4, padding_idx=10)


def test_embedding_bag_classifier_learns(rng):
    # a bag's class is whether it holds more ids below 5 than above: mean bags + a linear layer
    ids = rng.integers(0, 10, (64, 6))
    labels = ((ids < 5).sum(axis=1) > 3).astype(np.int64)
    model = nn.Sequential(nn.EmbeddingBag(10, 8, rng=rng), nn.Linear(8, 2, rng=rng))
    fit(model, ids, labels, optim.Adam(model.parameters(), lr=0.05), 150)
    accuracy = (model(ids).data.argmax(axis=1) == labels).mean()
    assert accuracy > 0.95, accuracy
