"""Ops on meta tensors whose result shapes come from rules (dlpy/meta.py ``_shape_rules``,
``_where``, ``positions``, the factories' small calls): every result's shape and dtype, and its
gradients' shapes, equal the CPU run's, and a big meta tensor costs no memory of its size."""

import tracemalloc

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy.device import MetaArray


def _cases():
    long = dlpy.int64
    return {
        "cat": lambda x, y, i: dlpy.cat([x, y, x], 1),
        "cat last": lambda x, y, i: dlpy.cat([x, y[..., :3]], -1),
        "stack": lambda x, y, i: dlpy.stack([x, y], 2),
        "sum dims keepdim": lambda x, y, i: x.sum((0, 2), keepdim=True),
        "mean": lambda x, y, i: x.mean(-1),
        "var": lambda x, y, i: x.var(1, correction=0),
        "std keepdim": lambda x, y, i: x.std(0, keepdim=True),
        "amax": lambda x, y, i: x.amax((1, 2)),
        "max dim": lambda x, y, i: x.max(1),
        "min dim keepdim": lambda x, y, i: x.min(-1, keepdim=True),
        "argmax": lambda x, y, i: x.argmax(2),
        "argmax all": lambda x, y, i: x.argmin(),
        "norm": lambda x, y, i: x.norm(dim=(1, 2)),
        "logsumexp": lambda x, y, i: x.logsumexp(1),
        "sort": lambda x, y, i: x.sort(1, descending=True),
        "argsort": lambda x, y, i: x.argsort(-1),
        "topk": lambda x, y, i: x.topk(3, dim=1),
        "cumsum": lambda x, y, i: x.cumsum(2),
        "cumprod": lambda x, y, i: x.cumprod(0),
        "contiguous": lambda x, y, i: x.transpose(1, 2).contiguous(),
        "roll": lambda x, y, i: x.roll((1, -2), (1, 2)),
        "tril": lambda x, y, i: x.tril(1),
        "repeat": lambda x, y, i: x.repeat(2, 1, 1, 3),
        "index_select": lambda x, y, i: x.index_select(1, i[0, :, 0]),
        "gather": lambda x, y, i: x.gather(2, i),
        "advanced index": lambda x, y, i: x[:, i[0, :, 0], None, 1:],
        "advanced index after an int": lambda x, y, i: x[0, :, i[0, :2, 0]],
        "cummax": lambda x, y, i: x.cummax(1),
        "where numbers": lambda x, y, i: dlpy.where(y > 0, 1.0, 0.0),
        "cross_entropy weight": lambda x, y, i: F.cross_entropy(x[:, :, 0], i[:, 0, 0] * 0,
                                                                weight=y[0, :, 0]),
        "masked_fill": lambda x, y, i: x.masked_fill(y > 0, -1.0),
        "where": lambda x, y, i: dlpy.where(y > 0, x, 0.0),
        "pad": lambda x, y, i: F.pad(x, (1, 2, 0, 3)),
        "einsum": lambda x, y, i: dlpy.einsum("bsd,bsd->bs", x, y),
        "einsum broadcast": lambda x, y, i: dlpy.einsum("bsd,xsd->bsx", x, y[:1]),
        "embedding": lambda x, y, i: F.embedding(i, x[0]),
        "one_hot": lambda x, y, i: F.one_hot(i, 11),
        "cross_entropy": lambda x, y, i: F.cross_entropy(x[:, :, 0], i[:, 0, 0] * 0),
        "cross_entropy none": lambda x, y, i: F.cross_entropy(
            x, dlpy.zeros(x.shape[0], x.shape[2], dtype=long, device=x.device),
            reduction="none"),
        "mse": lambda x, y, i: F.mse_loss(x, y),
        "mse none": lambda x, y, i: F.mse_loss(x, y, reduction="none"),
        "batch_norm": lambda x, y, i: F.batch_norm(x, None, None, training=True),
        "group_norm": lambda x, y, i: F.group_norm(x, 1),
        "interpolate": lambda x, y, i: F.interpolate(x, scale_factor=2),
        "interpolate linear": lambda x, y, i: F.interpolate(x, size=9, mode="linear",
                                                             align_corners=True),
        "max_pool": lambda x, y, i: F.max_pool1d(x, 2, ceil_mode=True),
        "max_pool indices": lambda x, y, i: F.max_pool1d(x, 3, 2, 1, return_indices=True),
        "avg_pool": lambda x, y, i: F.avg_pool1d(x, 3, 2, 1),
    }


def _inputs(device):
    x = dlpy.arange(2 * 5 * 7, dtype=dlpy.float32).reshape(2, 5, 7).sin().to(device)
    y = dlpy.arange(2 * 5 * 7, dtype=dlpy.float32).reshape(2, 5, 7).cos().to(device)
    i = (dlpy.arange(2 * 5 * 4) % 5).reshape(2, 5, 4).to(device)
    return x.requires_grad_(), y, i


def _flat(result):
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("name", sorted(_cases()))
def test_meta_results_and_gradients_have_the_cpu_shapes(name):
    function = _cases()[name]
    cpu, meta = _inputs("cpu"), _inputs("meta")
    got, want = _flat(function(*meta)), _flat(function(*cpu))
    assert [(g.shape, g.dtype) for g in got] == [(w.shape, w.dtype) for w in want]
    assert all(type(g.data) is MetaArray for g in got)
    if want[0].requires_grad:
        want[0].sum().backward()
        got[0].sum().backward()
        assert meta[0].grad.shape == cpu[0].grad.shape
        assert type(meta[0].grad.data) is MetaArray


def test_big_meta_tensors_cost_nothing_of_their_size():
    x = dlpy.empty(16, 1024, 4096, device="meta", requires_grad=True)  # 256 MiB of float32
    y = dlpy.empty(16, 1024, 4096, device="meta")
    labels = dlpy.zeros(16 * 1024, dtype=dlpy.int64, device="meta")
    tracemalloc.start()
    try:
        made = [dlpy.zeros(16, 1024, 4096, device="meta", dtype=dlpy.bool),
                dlpy.randn(4096, 4096, device="meta"), dlpy.empty_like(x)]
        for function in list(_cases().values()) + [
                lambda x, y, i: F.cross_entropy(x.view(-1, 4096), labels),
                lambda x, y, i: x.topk(5, -1), lambda x, y, i: x.masked_fill(made[0], 0.0)]:
            out = _flat(function(x, y, dlpy.zeros(16, 1024, 8, dtype=dlpy.int64,
                                                  device="meta")))[0]
            if out.requires_grad:
                out.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # a few index arrays, never a tensor's values
    assert x.grad.shape == x.shape and type(x.grad.data) is MetaArray
    assert made[1].shape == (4096, 4096) and made[2].shape == x.shape


def test_factories_on_meta_check_their_arguments_as_given():
    with pytest.raises(ValueError, match=r"\(2, -1\)"):
        dlpy.empty(2, -1, device="meta")
    with pytest.raises(TypeError, match="fill_value"):
        dlpy.full((2, 2), "a", device="meta")
    r = dlpy.randint(0, 5, (3, 4), device="meta")
    assert (r.shape, r.dtype, r.device.type) == ((3, 4), np.int64, "meta")
    z = dlpy.zeros_like(dlpy.empty(6, 7, device="meta"), dtype=dlpy.float64)
    assert (z.shape, z.dtype) == ((6, 7), np.float64)
    t = dlpy.randn(4, 5, device="meta", requires_grad=True)
    assert t.requires_grad and t.shape == (4, 5)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_an_optimiser_steps_meta_parameters_without_their_size(name):
    with dlpy.device("meta"):
        layer = dlpy.nn.Linear(4096, 4096)  # 64 MiB of float32
    kwargs = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    optimiser = getattr(dlpy.optim, name)(layer.parameters(), lr=0.1, **kwargs)
    layer(dlpy.empty(4, 4096, device="meta")).sum().backward()
    tracemalloc.start()
    try:
        optimiser.step()
        optimiser.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak  # element-wise numpy on meta arrays computes one element
    state = optimiser.state[layer.weight]
    arrays = [v for v in state.values() if isinstance(v, dlpy.Tensor) and v.ndim]
    assert arrays and all(v.shape == (4096, 4096) and v.is_meta for v in arrays)
    assert layer.weight.is_meta and type(layer.weight.data) is MetaArray


def test_numpy_on_meta_arrays_keeps_promotion_errors_and_out():
    from dlpy.device import meta_array

    a, b = meta_array((3, 1), np.float32), meta_array((1, 4), np.float64)
    assert (a + b).shape == (3, 4) and (a + b).dtype == np.float64
    assert (a * 2).dtype == np.float32 and type(np.sqrt(a)) is MetaArray
    with pytest.raises(ValueError):
        a + meta_array((2, 4), np.float32)
    out = meta_array((3, 4), np.float32)
    assert np.add(a, 1.0, out=out) is out
    assert type(np.zeros_like(b)) is MetaArray and np.full_like(a, 2, shape=(5,)).shape == (5,)
    assert np.empty_like(a, dtype=np.int8).dtype == np.int8
    assert type(a.sum()) is MetaArray  # (reductions: numpy's own, a meta array)


def test_meta_ops_refuse_cpu_tensors_with_dimensions_as_torch():
    logits = dlpy.empty(4, 5, device="meta")
    with pytest.raises(RuntimeError, match="expected device"):
        F.cross_entropy(logits, dlpy.zeros(4, dtype=dlpy.int64))
    with pytest.raises(RuntimeError, match="expected device"):
        F.cross_entropy(dlpy.zeros(4, 5), dlpy.empty(4, dtype=dlpy.int64, device="meta"))
    assert F.cross_entropy(dlpy.empty(5, device="meta"), dlpy.tensor(1)).is_meta
    with pytest.raises(RuntimeError, match="same device"):
        logits.masked_fill(dlpy.empty(4, 5, dtype=dlpy.bool, device="meta"), dlpy.tensor(1.0))


def test_a_fake_parameters_optimiser_state_is_fake():
    from dlpy._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    with FakeTensorMode():
        layer = dlpy.nn.Linear(3, 2)
        optimiser = dlpy.optim.Adam(layer.parameters())
        layer(dlpy.randn(4, 3)).sum().backward()
        optimiser.step()
        state = optimiser.state[layer.weight]
    for slot in ("exp_avg", "exp_avg_sq"):
        assert type(state[slot]) is FakeTensor and state[slot].device.type == "cpu"
        assert state[slot].shape == (2, 3)


def _ruled_cases():
    """Ops whose meta results come from rules or ``meta.shaped`` (scatters, index writes, take,
    unfold / fold, grid sampling, the Fourier transforms, linalg, transposed convolutions,
    kthvalue / median / quantile, adaptive pooling, embedding_bag): (x (2, 5, 7) requiring
    grad, y of x's shape, i int64 (2, 5, 4) in [0, 5)) -> result(s)."""
    return {
        "scatter": lambda x, y, i: x.scatter(2, i, y[..., :4]),
        "scatter value": lambda x, y, i: x.scatter(1, i[:, :3, :], 2.0),
        "scatter_add": lambda x, y, i: x.scatter_add(1, i, y),
        "scatter_reduce": lambda x, y, i: x.scatter_reduce(2, i, y, "amax"),
        "index_add": lambda x, y, i: x.index_add(1, i[0, :, 0], y),
        "index_copy": lambda x, y, i: x.index_copy(0, i[:, 0, 0] * 0 + dlpy.arange(
            2, device=x.device), y),
        "index_fill": lambda x, y, i: x.index_fill(2, i[0, 0], 0.5),
        "index_put": lambda x, y, i: x.index_put((i[0, :2, 0] * 0,), y[:2], accumulate=True),
        "take": lambda x, y, i: x.take(i),
        "unfold": lambda x, y, i: x.unfold(2, 3, 2),
        "F.unfold": lambda x, y, i: F.unfold(x[None], 2),
        "F.fold": lambda x, y, i: F.fold(x[:, :4, :4], (4, 4), 2, stride=2),
        "grid_sample": lambda x, y, i: F.grid_sample(x[:, None], y[:, :3, :4].reshape(
            2, 3, 2, 2).tanh(), align_corners=False),
        "affine_grid": lambda x, y, i: F.affine_grid(x[:, :2, :3], (2, 1, 4, 6),
                                                     align_corners=False),
        "rfft": lambda x, y, i: dlpy.fft.rfft(x, n=9),
        "fft2": lambda x, y, i: dlpy.fft.fft2(x),
        "irfft": lambda x, y, i: dlpy.fft.irfft(dlpy.fft.rfft(x), n=7),
        "inv": lambda x, y, i: dlpy.linalg.inv(x[..., :5] + 5 * dlpy.eye(5, device=x.device)),
        "solve": lambda x, y, i: dlpy.linalg.solve(
            x[..., :5] + 5 * dlpy.eye(5, device=x.device), y),
        "qr": lambda x, y, i: tuple(dlpy.linalg.qr(x)),
        "svd": lambda x, y, i: tuple(dlpy.linalg.svd(x, full_matrices=False)),
        "slogdet": lambda x, y, i: tuple(dlpy.linalg.slogdet(x[..., :5])),
        "conv_transpose": lambda x, y, i: F.conv_transpose1d(x, y[0, :, :3].reshape(5, 1, 3)
                                                             .contiguous(), stride=2),
        "kthvalue": lambda x, y, i: x.kthvalue(2, 1),
        "median": lambda x, y, i: x.median(-1),
        "quantile": lambda x, y, i: dlpy.quantile(x, 0.3, dim=2),
        "adaptive_avg_pool": lambda x, y, i: F.adaptive_avg_pool1d(x, 3),
        "embedding_bag": lambda x, y, i: F.embedding_bag(i[:, 0], x[0]),
    }


@pytest.mark.parametrize("name", sorted(_ruled_cases()))
def test_ruled_meta_results_and_gradients_have_the_cpu_shapes(name):
    function = _ruled_cases()[name]
    cpu, meta = _inputs("cpu"), _inputs("meta")
    got, want = _flat(function(*meta)), _flat(function(*cpu))
    assert [(g.shape, g.dtype) for g in got] == [(w.shape, w.dtype) for w in want]
    assert all(g.is_meta for g in got)
    if want[0].requires_grad:
        (want[0].abs() if want[0].is_complex() else want[0]).sum().backward()
        (got[0].abs() if got[0].is_complex() else got[0]).sum().backward()
        assert meta[0].grad.shape == cpu[0].grad.shape and meta[0].grad.is_meta


def test_big_meta_tensors_of_the_ruled_ops_cost_nothing_of_their_size():
    x = dlpy.empty(16, 1024, 4096, device="meta", requires_grad=True)  # 256 MiB of float32
    index = dlpy.empty(16, 1024, 4096, dtype=dlpy.int64, device="meta")
    matrices = dlpy.empty(64, 1024, 1024, device="meta", requires_grad=True)
    images = dlpy.empty(16, 64, 256, 256, device="meta", requires_grad=True)
    tracemalloc.start()
    try:
        outs = [x.scatter_add(2, index, x), x.scatter_reduce(2, index, x, "amax"),
                x.index_add(1, index[0, :, 0], x), x.take(index), x[index[0]],
                x.index_put((index[0, :, 0],), x[0]),
                x.masked_scatter(dlpy.empty(16, 1024, 4096, dtype=dlpy.bool, device="meta"), x),
                dlpy.fft.rfft(x), dlpy.fft.fftn(x, dim=(1, 2)), dlpy.fft.irfft(dlpy.fft.rfft(x)),
                dlpy.linalg.inv(matrices), dlpy.linalg.qr(matrices)[0],
                dlpy.linalg.svd(matrices)[1], dlpy.linalg.eigh(matrices)[0],
                dlpy.linalg.slogdet(matrices)[1], dlpy.linalg.cholesky(matrices),
                x.kthvalue(3)[0], x.median(-1)[0], dlpy.quantile(x[:, :8], 0.5, dim=-1),
                F.unfold(images, 3, padding=1), F.grid_sample(
                    images, dlpy.empty(16, 256, 256, 2, device="meta"), align_corners=False),
                F.conv_transpose2d(images, dlpy.empty(64, 32, 4, 4, device="meta"), stride=2),
                F.adaptive_avg_pool2d(images, (100, 100)),
                F.embedding_bag(index[0, :, :8], x[0]), dlpy.bernoulli(x),
                dlpy.normal(x, 1.0), dlpy.multinomial(x[0], 10)]
        for out in outs:
            if out.requires_grad:
                (out.abs() if out.is_complex() else out).sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # a few small index arrays, never a tensor's values
    assert all(out.is_meta for out in outs)
    assert x.grad.shape == x.shape and matrices.grad.is_meta and images.grad.is_meta


def test_meta_array_reductions_compute_one_element():
    from dlpy.device import meta_array

    a = meta_array((16, 1024, 4096), np.int64)  # numpy would pass over 64 M elements
    tracemalloc.start()
    try:
        results = [a.min(), a.max(1), a.sum((0, 2), keepdims=True), a.any(), np.mean(a)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert [(r.shape, r.dtype) for r in results] == [
        ((), np.int64), ((16, 4096), np.int64), ((1, 1024, 1), np.int64), ((), np.bool_),
        ((), np.float64)]
    assert all(type(r) is MetaArray for r in results)


def test_ops_with_data_dependent_or_missing_meta_kernels_raise_torchs_errors():
    x = dlpy.empty(2, 3, 4, device="meta")
    with pytest.raises(RuntimeError, match="without output_size"):
        x.repeat_interleave(dlpy.empty(2, dtype=dlpy.int64, device="meta"), dim=0)
    assert x.repeat_interleave(dlpy.empty(2, dtype=dlpy.int64, device="meta"), dim=0,
                               output_size=5).shape == (5, 3, 4)
    with pytest.raises(NotImplementedError, match="linalg_lstsq"):
        dlpy.linalg.lstsq(dlpy.empty(3, 5, 4, device="meta"), dlpy.empty(3, 5, 2, device="meta"))
    log_probs = dlpy.empty(12, 2, 5, device="meta")
    targets = dlpy.empty(2, 4, dtype=dlpy.int64, device="meta")
    with pytest.raises(NotImplementedError, match="_ctc_loss.Tensor"):
        F.ctc_loss(log_probs, targets, dlpy.tensor([12, 10]), dlpy.tensor([4, 3]))
    loss = F.ctc_loss(log_probs, targets, [12, 10], [4, 3], reduction="none")
    assert loss.shape == (2,) and loss.is_meta
    with pytest.raises(RuntimeError, match="amax or amin"):  # (its CPU kernel takes "max")
        x.scatter_reduce(1, dlpy.empty(2, 3, 4, dtype=dlpy.int64, device="meta"), x, "max")
    with pytest.raises(RuntimeError, match="same device"):
        x.index_fill(2, dlpy.tensor([0, 3]), 0.0)
    with pytest.raises(TypeError, match="meta device type tensor to numpy"):
        x.index_put((dlpy.empty(2, 3, 4, dtype=dlpy.bool, device="meta"),), dlpy.tensor(1.0))


def test_meta_slogdet_sign_and_random_draws_are_meta():
    sign, logabsdet = dlpy.linalg.slogdet(dlpy.empty(3, 4, 4, device="meta"))
    assert sign.is_meta and logabsdet.is_meta and sign.shape == (3,)
    rates = dlpy.empty(3, 4, device="meta")  # NaN stand-ins: no value checked
    assert dlpy.poisson(rates).is_meta and dlpy.bernoulli(rates).shape == (3, 4)
    assert dlpy.normal(rates, rates).is_meta and dlpy.multinomial(rates, 2).dtype == np.int64
    with dlpy.device("meta"):  # torch.normal of numbers ignores the default device
        assert not dlpy.normal(0.0, 1.0, (2,)).is_meta


def test_meta_tensors_report_torchs_strides_for_memory_formats_and_transposes():
    x = dlpy.empty(2, 3, 4, 5, device="meta")
    last = x.to(memory_format=dlpy.channels_last)
    assert last.stride() == (60, 1, 15, 3) and not last.is_contiguous()
    assert last.is_contiguous(memory_format=dlpy.channels_last)
    assert last.contiguous().stride() == (60, 20, 5, 1)
    assert (last * 2).stride() == (60, 1, 15, 3) and dlpy.empty_like(last).stride() == (
        60, 1, 15, 3)
    assert (x + last).stride() == (60, 20, 5, 1)  # (the first input decides, as torch's)
    assert F.max_pool2d(last, 2).stride() == (12, 1, 6, 3)
    assert dlpy.empty(2, 3, 4, 5, device="meta",
                      memory_format=dlpy.channels_last).stride() == (60, 1, 15, 3)
    assert dlpy.zeros(2, 3, 4, 5).to(memory_format=dlpy.channels_last).to(
        "meta").stride() == (60, 1, 15, 3)
    t = dlpy.empty(3, 4, device="meta").t()
    assert t.stride() == (1, 4) and not t.is_contiguous() and t.t().is_contiguous()
    assert dlpy.empty(2, 3, 4, device="meta").permute(2, 0, 1).stride() == (1, 12, 4)
    strided = dlpy.empty_strided((2, 3), (1, 2), device="meta")
    assert strided.stride() == (1, 2) and not strided.is_contiguous()
