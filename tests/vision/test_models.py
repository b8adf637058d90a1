"""dlpy.vision.models against torchvision (tests/fixtures/vision, written by
make_vision_fixtures.py): state-dict keys and shapes equal torchvision's, torchvision's state
dicts load unchanged and give its outputs (eval and train mode) and input gradients, weights
from a local .npz, errors, and a small ResNet that learns."""

import functools
from pathlib import Path

import numpy as np
import pytest
from make_vision_fixtures import MODELS, SEED, deterministic_state, model_input

import dlpy
from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.vision import models

from .helpers import load_reference, pairs, uninitialised, uninitialised_float64

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision"


@pytest.fixture(scope="module")
def reference():
    return load_reference(FIXTURES / "models.npz", FIXTURES / "state_dict_keys.json")


def build(name, make=uninitialised):
    """The architectures of make_vision_fixtures.build, in dlpy, made by ``make`` (without
    their random initialisation: the tests load values over them)."""
    if name == "vgg11_bn":
        return make(models.vgg11_bn, num_classes=10, hidden_features=64)
    if name == "vit_tiny":
        return make(functools.partial(models.VisionTransformer, 32, 8, 2, 2, 16, 32),
                    num_classes=10)
    return make(getattr(models, name), num_classes=10)


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "mobilenet_v2"])
def test_full_size_state_dict_keys_and_shapes_are_torchvisions(reference, name):
    expected = dict((k, s) for k, s in reference[1][f"full:{name}"])
    model = uninitialised(getattr(models, name))  # the structure, without seconds of drawing
    assert {k: list(s) for k, s in pairs(model)} == expected


def test_vit_b_16_and_vgg11_bn_names_are_torchvisions(reference):
    # the full models are large (86 M, 133 M parameters): the same code is built narrower, and
    # its keys and shapes must be torchvision's with the widths scaled alike
    narrower = {768: 12, 3 * 768: 3 * 12, 3072: 24}  # hidden_dim, in_proj, mlp_dim
    expected = {k: [narrower.get(n, n) for n in s] for k, s in reference[1]["full:vit_b_16"]}
    assert shapes(models.VisionTransformer(224, 16, 12, 12, 12, 24)) == expected
    expected = {k: [{4096: 8, 512 * 7 * 7: 512 * 7 * 7}.get(n, n) for n in s]
                for k, s in reference[1]["full:vgg11_bn"]}
    assert shapes(models.vgg11_bn(hidden_features=8)) == expected


@pytest.mark.parametrize("name", list(MODELS))
def test_torchvision_state_dict_loads_and_gives_torchvisions_output(reference, name):
    arrays, keys = reference
    model = build(name, uninitialised_float64)
    assert shapes(model) == dict((k, s) for k, s in keys[name])
    index = list(MODELS).index(name)
    model.double().eval()  # (a no-op here) first: load_state_dict keeps the parameters' dtype
    model.load_state_dict(deterministic_state(keys[name], SEED + index))
    x, grad_output = model_input(index)
    x = Tensor(x, requires_grad=True)
    out = model(x)
    np.testing.assert_allclose(out.data, arrays[f"{name}:output"], rtol=1e-9, atol=1e-9)
    if f"{name}:input_grad" in arrays:
        (out * Tensor(grad_output)).sum().backward()
        np.testing.assert_allclose(x.grad, arrays[f"{name}:input_grad"], rtol=1e-8, atol=1e-10)
    if name == "resnet18":  # batch statistics in training mode
        with dlpy.no_grad():
            train_out = model.train()(x)
        np.testing.assert_allclose(train_out.data, arrays[f"{name}:train_output"], rtol=1e-9,
                                   atol=1e-9)


def test_float32_model_is_close_to_the_float64_reference(reference):
    arrays, keys = reference
    model = build("resnet18")  # float32, the default dtype
    model.load_state_dict(deterministic_state(keys["resnet18"], SEED))
    out = model.eval()(Tensor(model_input(0)[0].astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, arrays["resnet18:output"], rtol=1e-3, atol=1e-4)


def test_weights_from_a_local_npz(tmp_path):
    source = models.mobilenet_v2(num_classes=3, rng=np.random.default_rng(0))
    nn.save_checkpoint(tmp_path / "mobilenet.npz", source)
    nn.save_npz(tmp_path / "plain.npz", source.state_dict())
    x = Tensor(np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32))
    expected = source.eval()(x).data
    for file in ("mobilenet.npz", "plain.npz"):
        model = models.mobilenet_v2(weights=tmp_path / file, num_classes=3)
        np.testing.assert_array_equal(model.eval()(x).data, expected)
    with pytest.raises(ValueError, match=r"plain\.npz: load_state_dict: shape mismatch for "
                                         r"classifier\.1\.weight"):
        models.mobilenet_v2(weights=tmp_path / "plain.npz", num_classes=4)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"resnet18: weights must be a local \.npz file.*"
                                         r"'IMAGENET1K_V1'"):
        models.resnet18(weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match=r"vit_b_16: .*\.pth"):
        models.vit_b_16(weights="vit_b_16.pth")
    with pytest.raises(TypeError, match="mobilenet_v2: weights must be None or the path"):
        models.mobilenet_v2(weights=3)
    with pytest.raises(ValueError, match="ResNet: layers must be 4 positive block counts"):
        models.ResNet(models.BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="image_size must be divisible by patch_size"):
        models.VisionTransformer(30, 8, 1, 1, 8, 8)
    vit = models.VisionTransformer(16, 8, 1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"expected images of 16x16, got .*\(1, 3, 24, 24\)"):
        vit(Tensor(np.zeros((1, 3, 24, 24), dtype=np.float32)))


def test_small_resnet_learns_synthetic_digits():
    """ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10) on MNIST-like 28x28 images (a bright
    bar whose position is the class): the loss falls well below its start in a few steps."""
    rng = np.random.default_rng(0)
    labels = np.arange(20) % 10
    images = rng.uniform(0, 0.2, (20, 1, 28, 28))
    for i, label in enumerate(labels):
        images[i, 0, 2 + 2 * label: 5 + 2 * label, 4:24] = 1.0
    x = Tensor(np.repeat(images, 3, axis=1).astype(np.float32))
    model = models.ResNet(models.BasicBlock, [1, 1, 1, 1], num_classes=10,
                          rng=np.random.default_rng(1))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0], losses


def test_weights_enums_name_torchvisions_downloads():
    """torchvision's weights enums by name (code naming them imports and compares); a member
    given as weights= is refused, as a download."""
    assert models.VGG16_Weights.DEFAULT is models.VGG16_Weights.IMAGENET1K_V1
    assert list(models.VGG16_Weights) == [models.VGG16_Weights.IMAGENET1K_V1,
                                          models.VGG16_Weights.IMAGENET1K_FEATURES]
    assert models.VGG16_Weights.verify("IMAGENET1K_V1") is models.VGG16_Weights.IMAGENET1K_V1
    assert models.VGG11_BN_Weights.verify(None) is None
    assert models.VGG11_Weights.DEFAULT.url.endswith("/vgg11-8a719046.pth")
    assert models.VGG16_BN_Weights.DEFAULT.meta["num_params"] == 138365992
    assert repr(models.VGG16_Weights.DEFAULT) == "VGG16_Weights.IMAGENET1K_V1"
    with pytest.raises(TypeError, match="expected VGG16_Weights"):
        models.VGG16_Weights.verify(models.VGG11_Weights.DEFAULT)
    with pytest.raises(ValueError, match=r"vgg16: VGG16_Weights\.IMAGENET1K_V1 names "
                                         r"torchvision's download .*dlpy downloads nothing"):
        models.vgg16(weights=models.VGG16_Weights.DEFAULT)
    with pytest.raises(RuntimeError, match="dlpy downloads nothing"):
        models.VGG16_Weights.DEFAULT.get_state_dict(progress=False)
