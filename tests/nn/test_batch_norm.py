"""BatchNorm1d / BatchNorm2d / BatchNorm3d: PyTorch state dicts loading unchanged, training steps
(outputs, gradients, running statistics) and eval outputs as PyTorch's
(tests/fixtures/nn/batch_norm.npz), train/eval switching, state dicts, errors."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor, nn

from .reference import check_steps_as_torch, load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "batch_norm.npz"


@pytest.fixture(scope="module")
def torch_modules():
    """{name: {"state": {...}, "state_after": {...}, "train0:input": ..., ...}}."""
    return load_grouped(FIXTURE, ("state", "state_after"))


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
    )


# the modules of make_batch_norm_fixtures.py
BUILD = {
    "bn2d": lambda: nn.BatchNorm2d(3),
    "bn1d_3d_input": lambda: nn.BatchNorm1d(4, eps=1e-3, momentum=0.3),
    "bn1d_2d_input": lambda: nn.BatchNorm1d(3),
    "bn1d_cumulative": lambda: nn.BatchNorm1d(4, momentum=None),
    "bn2d_no_affine": lambda: nn.BatchNorm2d(3, affine=False, momentum=0.2),
    "bn1d_no_tracking": lambda: nn.BatchNorm1d(3, track_running_stats=False),
    "bn2d_no_bias": lambda: nn.BatchNorm2d(2, bias=False),
    "cnn": cnn,
    "bn3d": lambda: nn.BatchNorm3d(3, momentum=0.3),
}


def test_every_fixture_module_is_tested(torch_modules):
    assert set(torch_modules) == set(BUILD)


@pytest.mark.parametrize("name", sorted(BUILD))
def test_torch_state_dict_loads_and_steps_as_torch(name, torch_modules):
    check_steps_as_torch(BUILD[name](), torch_modules[name])


def test_a_loaded_torch_state_gives_torch_eval_output(torch_modules):
    # the trained CNN's state after its training step, straight into eval mode
    reference = torch_modules["cnn"]
    model = cnn()
    model.load_state_dict(reference["state_after"])
    model.eval()
    np.testing.assert_allclose(model(reference["eval:input"]).data, reference["eval:output"],
                               rtol=1e-4, atol=1e-5)
    assert int(model[1].num_batches_tracked) == 7  # torch's 5 SGD steps + 2 here


def test_parameters_buffers_and_state_dict_names():
    bn = nn.BatchNorm2d(3)
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(bn.weight.data, 1.0)
    np.testing.assert_array_equal(bn.bias.data, 0.0)
    assert bn.weight.dtype == np.float32
    state = bn.state_dict()
    # PyTorch's names in PyTorch's order
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert state["running_mean"].dtype == state["running_var"].dtype == np.float32
    assert state["num_batches_tracked"].dtype == np.int64
    assert state["num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(state["running_var"], 1.0)
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert list(nn.BatchNorm1d(3, track_running_stats=False).buffers()) == []
    assert list(nn.BatchNorm1d(3, affine=False).parameters()) == []
    assert nn.BatchNorm1d(4, dtype=np.float64).running_var.dtype == np.float64


def test_state_dict_round_trip_and_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.BatchNorm1d(4))
    for _ in range(3):
        model(rng.standard_normal((5, 3)).astype(np.float32))
    model.eval()
    x = rng.standard_normal((2, 3)).astype(np.float32)
    expected = model(x).data
    copy = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    copy.load_state_dict(model.state_dict())
    copy.eval()
    np.testing.assert_array_equal(copy(x).data, expected)
    assert int(copy[1].num_batches_tracked) == 3
    nn.save_checkpoint(tmp_path / "bn.npz", model)
    loaded = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    nn.load_checkpoint(tmp_path / "bn.npz", loaded)
    loaded.eval()
    np.testing.assert_array_equal(loaded(x).data, expected)
    assert loaded[1].num_batches_tracked.dtype == np.int64


def test_train_and_eval_switch_the_statistics():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 2, 3, 3)) * 3 + 5).astype(np.float32)
    model = nn.Sequential(nn.BatchNorm2d(2, momentum=1.0))  # running = the last batch's
    y = model(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(model[0].running_mean, x.mean(axis=(0, 2, 3)), rtol=1e-5)
    model.eval()
    assert not model[0].training
    before = model[0].state_dict()
    single = model(x[:1]).data  # eval: one sample normalised with the running statistics
    n = x.shape[0] * 9
    scale = np.sqrt((n - 1) / n)  # the running variance is unbiased, the batch one is not
    np.testing.assert_allclose(single, y[:1] * scale, rtol=1e-4, atol=1e-5)
    for key, value in model[0].state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # eval updates nothing
    model.train()
    model(x[:4])
    assert int(model[0].num_batches_tracked) == 2


def test_without_running_statistics_eval_uses_the_batch():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 3)) + 4).astype(np.float32)
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    train = bn(x).data
    bn.eval()
    np.testing.assert_array_equal(bn(x).data, train)
    assert bn.running_mean is None and bn.num_batches_tracked is None


def test_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((4, 2)) * (i + 1) + i for i in range(3)]
    for batch in batches:
        bn(batch.astype(np.float32))
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(0) for b in batches], axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var,
                               np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-5)


def test_to_float64_casts_the_statistics_but_not_the_count():
    bn = nn.BatchNorm2d(2).to(np.float64)
    assert bn.weight.dtype == bn.running_mean.dtype == bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    bn(np.ones((2, 2, 2, 2)))
    assert bn.running_mean.dtype == np.float64 and int(bn.num_batches_tracked) == 1


def test_repr():
    assert repr(nn.BatchNorm1d(3)) == (
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
        "track_running_stats=True)")
    assert repr(nn.BatchNorm3d(2)) == (
        "BatchNorm3d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, "
        "track_running_stats=True)")
    assert repr(nn.BatchNorm2d(4, momentum=None, affine=False)) == (
        "BatchNorm2d(4, eps=1e-05, momentum=None, affine=False, bias=False, "
        "track_running_stats=True)")


def test_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2D or 3D input \(N, C\) or "
                                         r"\(N, C, L\), got a 4D input of shape \(2, 3, 4, 5\)"):
        nn.BatchNorm1d(3)(np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected .*, got a 1D input"):
        nn.BatchNorm1d(3)(np.ones(3))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4D input \(N, C, H, W\), got "
                                         r"a 3D input of shape \(2, 3, 4\)"):
        nn.BatchNorm2d(3)(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected a 5D input \(N, C, D, H, W\), "
                                         r"got a 4D input of shape \(2, 3, 4, 4\)"):
        nn.BatchNorm3d(3)(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 3 channels on axis 1, got an "
                                         r"input of shape \(2, 2, 2, 2, 2\)"):
        nn.BatchNorm3d(3)(np.ones((2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 3 channels on axis 1, got an "
                                         r"input of shape \(2, 4\)"):
        nn.BatchNorm1d(3)(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 3 channels on axis 1, got an "
                                         r"input of shape \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3).eval()(np.ones((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: num_features must be an integer >= 0, "
                                         r"got -1"):
        nn.BatchNorm2d(-1)  # (0 is accepted, as torch's)
    with pytest.raises(ValueError, match=r"BatchNorm1d: num_features must be an integer >= 0, "
                                         r"got 3.0"):
        nn.BatchNorm1d(3.0)
    with pytest.raises(TypeError, match=r"BatchNorm1d: momentum must be a number, got '0.1'"):
        nn.BatchNorm1d(3, momentum="0.1")
    with pytest.raises(ValueError, match=r"BatchNorm1d: eps must be a finite number, got inf"):
        nn.BatchNorm1d(3, eps=float("inf"))


@pytest.mark.parametrize("module, shape", [(nn.BatchNorm1d(3), (1, 3)),
                                           (nn.BatchNorm1d(3), (1, 3, 1)),
                                           (nn.BatchNorm2d(3), (1, 3, 1, 1)),
                                           (nn.BatchNorm3d(3), (1, 3, 1, 1, 1)),
                                           (nn.BatchNorm1d(3, track_running_stats=False),
                                            (1, 3))])
def test_one_value_per_channel_is_an_error_when_training(module, shape):
    module.train()
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when "
                                         r"training, got input of shape \(1, 3"):
        module(np.ones(shape, dtype=np.float32))
    if module.track_running_stats:
        assert int(module.num_batches_tracked) == 1  # the refused batch is counted (torch's)
        assert module.eval()(np.ones(shape, dtype=np.float32)).shape == shape  # eval: fine


def test_the_batch_count_goes_up_before_the_batch_norm_as_torchs():
    """torch's _BatchNorm.forward counts the batch (add_) before calling batch_norm: a batch
    batch_norm refuses is counted, and with momentum=None the batch's own weight is
    1 / count including it."""
    bn = nn.BatchNorm1d(2, momentum=None)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(Tensor(np.ones((1, 2), dtype=np.float32)))
    assert int(bn.num_batches_tracked.data) == 1
    bn(Tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)))
    assert int(bn.num_batches_tracked.data) == 2
    # momentum 1/2: halfway from 0 to the batch mean (2, 4)
    np.testing.assert_allclose(bn.running_mean.numpy(), [1.0, 2.0])
