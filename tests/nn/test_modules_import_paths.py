"""dlpy.nn.modules' submodules (torch.nn.modules' paths) and the bases they name: the very
dlpy.nn classes, torch's constructor signatures of the bases, a subclass's reset_parameters at
construction, state dicts that round-trip between a base's subclass and the layer."""

import importlib
import warnings

import numpy as np
import pytest

import dlpy
import dlpy.compat
import dlpy.nn as nn
from dlpy import functional as F
from dlpy.nn.modules import batchnorm, conv, dropout, loss, padding, pooling, rnn, utils

SUBMODULES = ["activation", "adaptive", "batchnorm", "channelshuffle", "container", "conv",
              "distance", "dropout", "flatten", "fold", "instancenorm", "lazy", "linear",
              "linear_cross_entropy", "linear_cross_entropy_options", "loss", "module",
              "normalization", "padding", "pixelshuffle", "pooling", "rnn", "sparse",
              "transformer", "upsampling", "utils"]


@pytest.mark.parametrize("sub", SUBMODULES)
def test_each_submodule_names_the_nn_classes(sub):
    with dlpy.compat.as_torch():
        module = importlib.import_module(f"torch.nn.modules.{sub}")
    assert module is importlib.import_module(f"dlpy.nn.modules.{sub}")
    for name in getattr(module, "__all__", []):
        value = getattr(module, name)
        if isinstance(value, type) and hasattr(nn, name):
            assert value is getattr(nn, name), name


def test_modules_reexports_every_class():
    import dlpy.nn.modules as modules

    assert len(modules.__all__) == len(set(modules.__all__))
    for name in modules.__all__:
        assert getattr(modules, name) is getattr(nn, name), name


def test_hierarchy_as_torch():
    assert issubclass(nn.ConvTranspose2d, conv._ConvNd)
    assert issubclass(nn.LazyConv2d, conv._LazyConvXdMixin)
    assert issubclass(nn.CrossEntropyLoss, loss._WeightedLoss)
    assert not issubclass(nn.BCEWithLogitsLoss, loss._WeightedLoss)
    assert issubclass(nn.Dropout, dropout._DropoutNd)
    assert issubclass(nn.Dropout2d, dropout._DropoutNd)
    assert issubclass(nn.ZeroPad2d, nn.ConstantPad2d)
    assert issubclass(nn.ReflectionPad2d, padding._ReflectionPadNd)
    assert issubclass(nn.LSTM, nn.RNNBase) and issubclass(nn.GRUCell, nn.RNNCellBase)
    assert not issubclass(nn.LogSoftmax, nn.Softmax)
    assert issubclass(nn.LazyBatchNorm1d, batchnorm._LazyNormBase)


def test_convnd_positional_signature_round_trips_with_conv2d():
    class MyConv(conv._ConvNd):
        def __init__(self, i, o, k):
            super().__init__(i, o, utils._pair(k), utils._pair(1), utils._pair(1),
                             utils._pair(1), False, utils._pair(0), 1, True, "zeros")

        def forward(self, x):
            return F.conv2d(x, self.weight, self.bias, padding=self.padding)

    mine = MyConv(2, 3, 3)
    assert mine.weight.shape == (3, 2, 3, 3) and mine.kernel_size == (3, 3)
    assert mine.transposed is False and mine.output_padding == (0, 0)
    layer = nn.Conv2d(2, 3, 3, padding=1)
    layer.load_state_dict(mine.state_dict())
    x = dlpy.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5), dtype=np.float32))
    np.testing.assert_allclose(layer(x).numpy(), mine(x).numpy())


def test_convnd_transposed_weight_and_mixin_warns():
    m = conv._ConvNd(3, 4, (2,), (2,), (0,), (1,), True, (1,), 1, False, "zeros")
    assert m.weight.shape == (3, 4, 2) and m.bias is None and m.transposed
    with pytest.warns(FutureWarning):
        conv._ConvTransposeMixin(3, 4, (2,), (1,), (0,), (1,), True, (0,), 1, True, "zeros")
    with pytest.raises(ValueError):
        conv._ConvTransposeNd(3, 4, (2,), (1,), (0,), (1,), True, (0,), 1, True, "reflect")


def test_subclass_reset_parameters_runs_at_construction():
    class C(nn.Conv1d):
        def reset_parameters(self):
            nn.init.constant_(self.weight, 0.5)

    class L(nn.Linear):
        def reset_parameters(self):
            nn.init.zeros_(self.weight)

    class R(nn.GRU):
        def reset_parameters(self):
            for p in self.parameters():
                nn.init.ones_(p)

    class B(nn.BatchNorm1d):
        def reset_parameters(self):
            super().reset_parameters()
            nn.init.constant_(self.weight, 3.0)

    assert (C(1, 2, 3).weight.numpy() == 0.5).all()
    assert (L(2, 3).weight.numpy() == 0).all()
    assert all((p.numpy() == 1).all() for p in R(2, 3).parameters())
    assert (B(2).weight.numpy() == 3).all()
    # dlpy's own layers keep their draws from rng
    a = nn.Linear(2, 3, rng=np.random.default_rng(1))
    b = nn.Linear(2, 3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())


def test_batchnorm_check_input_dim_override():
    class BNAny(batchnorm._BatchNorm):
        def _check_input_dim(self, input):  # noqa: A002
            pass

    m = BNAny(2).double()
    y = m(dlpy.tensor(np.arange(16.0).reshape(2, 2, 2, 2)))
    assert y.shape == (2, 2, 2, 2) and int(m.num_batches_tracked) == 1
    with pytest.raises(NotImplementedError):
        batchnorm._BatchNorm(2)(dlpy.ones(2, 2))


def test_weighted_loss_buffer_and_custom_reduction():
    class L(loss._WeightedLoss):
        def forward(self, a):
            return (self.weight * a).sum()

    m = L(dlpy.tensor([1.0, 2.0]), reduction="custom")
    assert list(m.state_dict()) == ["weight"] and m.reduction == "custom"
    assert float(m(dlpy.tensor([1.0, 1.0]))) == 3.0
    with pytest.raises(ValueError):
        nn.MSELoss(reduction="custom")  # dlpy's own losses still refuse it


def test_torch_style_bases_without_settings():
    class Avg(pooling._AvgPoolNd):
        def __init__(self):
            super().__init__()
            self.kernel_size, self.stride, self.padding = 2, 2, 0

        def forward(self, x):
            return F.avg_pool1d(x, self.kernel_size, self.stride)

    class Pad(padding._ConstantPadNd):
        def __init__(self):
            super().__init__(1.5)
            self.padding = (1, 1)

    x = dlpy.tensor([[[1.0, 3.0, 5.0, 7.0]]])
    np.testing.assert_allclose(Avg()(x).numpy(), [[[2.0, 6.0]]])
    np.testing.assert_allclose(Pad()(x).numpy(), [[[1.5, 1, 3, 5, 7, 1.5]]])
    assert nn.ZeroPad1d(2).value == 0.0


def test_rnn_bases_torch_signatures():
    m = nn.RNNBase("LSTM", 4, 3, 1, True, False, 0.0, False, 2)
    assert m.weight_hr_l0.shape == (2, 3) and m.weight_hh_l0.shape == (12, 2)
    with pytest.raises(ValueError):
        nn.RNNBase("LSTMX", 4, 3)
    cell = nn.RNNCellBase(3, 5, False, 2)
    assert cell.weight_ih.shape == (10, 3) and cell.bias_ih is None
    with pytest.warns(FutureWarning):
        y = rnn.apply_permutation(dlpy.tensor([[1.0, 2.0, 3.0]]), dlpy.tensor([2, 0, 1]))
    np.testing.assert_array_equal(y.numpy(), [[3.0, 1.0, 2.0]])


def test_transformer_helpers_and_data_parallel():
    from dlpy.nn.modules import transformer

    assert transformer._get_activation_fn("gelu") is F.gelu
    with pytest.raises(RuntimeError):
        transformer._get_activation_fn("tanh")
    clones = transformer._get_clones(nn.Linear(2, 2), 2)
    assert isinstance(clones, nn.ModuleList) and clones[0] is not clones[1]
    mask = transformer._generate_square_subsequent_mask(3)
    assert transformer._detect_is_causal_mask(mask) is True
    assert utils._list_with_default([None, 3], [1, 2, 5, 6]) == [5, 3]
    dp = nn.DataParallel(nn.Linear(2, 1))
    assert list(dp.state_dict()) == ["module.weight", "module.bias"] and dp.device_ids == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            nn.parallel.data_parallel(dp.module, dlpy.ones(1, 2))
