"""The quantizable LSTM / MultiheadAttention (round trips with the float modules), torch's
fused observe-and-fake-quantize and choose_qparams_optimized, and the small torch.utils /
profiler / sparse leftovers (backend_registration, ThroughputBenchmark,
ExecutionTraceObserver, as_sparse_gradcheck)."""

import gzip
import json

import numpy as np
import pytest

import dlpy
from dlpy import nn
from dlpy.ao.nn import quantizable as nnqa
from dlpy.ao.quantization import default_qconfig
from dlpy.ao.quantization.fake_quantize import (
    _fused_moving_avg_obs_fq_helper,
    choose_qparams_optimized,
    fused_moving_avg_obs_fake_quant,
)


def _fill(module, shift=0.0):
    with dlpy.no_grad():
        for i, (_, p) in enumerate(sorted(module.named_parameters())):
            values = np.sin(np.arange(p.numel()) * 0.37 + i + shift) * 0.5
            p.copy_(dlpy.tensor(values.reshape(p.shape), dtype=p.dtype))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_quantizable_lstm_from_float_matches_float(bidirectional):
    f = nn.LSTM(3, 4, bidirectional=bidirectional).eval()
    _fill(f)
    f.qconfig = default_qconfig
    q = nnqa.LSTM.from_float(f)
    x = dlpy.tensor(np.cos(np.arange(30) * 0.3).reshape(5, 2, 3), dtype=dlpy.float32)
    y, (h, c) = q(x)
    y2, (h2, c2) = f(x)
    for a, b in ((y, y2), (h, h2), (c, c2)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6)
    # the observers saw the input projections
    observer = q.layers[0].layer_fw.cell.igates.activation_post_process
    assert np.isfinite(observer.min_val.item())


def test_quantizable_lstm_cell_split_gates_round_trip():
    f = nn.LSTMCell(3, 4).double()
    _fill(f)
    joint = nnqa.LSTMCell.from_params(f.weight_ih.detach(), f.weight_hh.detach(),
                                      f.bias_ih.detach(), f.bias_hh.detach())
    split = nnqa.LSTMCell.from_params(f.weight_ih.detach(), f.weight_hh.detach(),
                                      f.bias_ih.detach(), f.bias_hh.detach(), split_gates=True)
    x = dlpy.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    state = (dlpy.zeros(2, 4, dtype=dlpy.float64), dlpy.ones(2, 4, dtype=dlpy.float64))
    for cell in (joint, split):
        for a, b in zip(cell(x, state), f(x, state)):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)


def test_quantizable_mha_from_float_matches_float():
    f = nn.MultiheadAttention(4, 2).double()
    _fill(f)
    f.qconfig = default_qconfig
    q = nnqa.MultiheadAttention.from_float(f)
    x = dlpy.tensor(np.sin(np.arange(24)).reshape(3, 2, 4))
    (a, w), (a2, w2) = q(x, x, x), f(x, x, x)
    np.testing.assert_allclose(a.detach().numpy(), a2.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(w.detach().numpy(), w2.detach().numpy(), atol=1e-12)
    with pytest.raises(NotImplementedError):
        nnqa.MultiheadAttention.from_observed(q)


def test_choose_qparams_optimized_narrows_an_outlier_range():
    x = dlpy.tensor(np.r_[np.linspace(-1, 1, 50), 20.0].astype(np.float32))
    high, low = choose_qparams_optimized(x, 51, 200, 0.5, 4)
    assert high.dtype == dlpy.float32 and high.shape == (1,)
    assert high.item() <= 20.0 and low.item() >= -1.0
    with pytest.raises(RuntimeError, match="numel is out of the bound"):
        choose_qparams_optimized(x, 52, 200, 0.5, 4)


def test_fused_observer_updates_buffers_and_masks_gradient():
    running_min, running_max = dlpy.tensor([np.inf]), dlpy.tensor([-np.inf])
    scale, zero_point = dlpy.tensor([1.0]), dlpy.tensor([0], dtype=dlpy.int32)
    on = dlpy.tensor([1])
    x = dlpy.tensor([[0.0, 1.0], [2.0, -1.0]], requires_grad=True)
    out, mask = _fused_moving_avg_obs_fq_helper(x, on, on, running_min, running_max, scale,
                                                zero_point, 0.5, 0, 255, 0)
    assert running_min.item() == -1.0 and running_max.item() == 2.0
    assert mask.dtype == dlpy.bool and bool(mask.all())
    np.testing.assert_allclose(out.detach().numpy(), x.detach().numpy(), atol=scale.item())
    # the second call moves halfway toward the new range
    y = fused_moving_avg_obs_fake_quant(x * 3, on, on, running_min, running_max, scale,
                                        zero_point, 0.5, 0, 255, 0)
    assert running_min.item() == -2.0 and running_max.item() == 4.0
    y.sum().backward()
    assert x.grad.numpy().tolist() == [[3.0, 3.0], [0.0, 0.0]]  # 6 and -3 fall outside


def test_throughput_benchmark_and_format_time():
    from dlpy.utils.throughput_benchmark import ThroughputBenchmark, format_time

    bench = ThroughputBenchmark(nn.ReLU())
    with pytest.raises(RuntimeError, match="add_input"):
        bench.benchmark(num_iters=1)
    bench.add_input(dlpy.tensor([-1.0, 2.0]))
    assert bench.run_once(dlpy.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]
    stats = bench.benchmark(num_calling_threads=2, num_warmup_iters=1, num_iters=6)
    assert stats.num_iters == 6 and stats.latency_avg_ms > 0
    assert "Total number of iterations: 6" in str(stats)
    assert format_time(time_us=1500.0) == "1.500ms"


def test_backend_registration_generates_and_refuses():
    from dlpy.nn.utils_rnn import PackedSequence
    from dlpy.tensor import Tensor
    from dlpy.utils import backend_registration as br

    with pytest.raises(RuntimeError, match="in-tree"):
        br.rename_privateuse1_backend("cuda")
    try:
        br.generate_methods_for_privateuse1_backend()
        assert dlpy.ones(2).is_privateuseone is False
        with pytest.raises(RuntimeError):  # no such device in dlpy
            dlpy.ones(2).privateuseone()
        with pytest.raises(RuntimeError, match="already been registered"):
            br.generate_methods_for_privateuse1_backend()
    finally:
        for owner, names in ((Tensor, ("privateuseone", "is_privateuseone")),
                             (nn.Module, ("privateuseone",)),
                             (PackedSequence, ("privateuseone", "is_privateuseone"))):
            for name in names:
                if name in vars(owner):
                    delattr(owner, name)


def test_execution_trace_observer_writes_nested_nodes(tmp_path):
    from dlpy.profiler import ExecutionTraceObserver, record_function

    path = tmp_path / "trace.json.gz"
    et = ExecutionTraceObserver().register_callback(str(path))
    et.start()
    with record_function("outer"):
        dlpy.ones(2) * 2
    et.stop()
    et.unregister_callback()
    document = json.loads(gzip.open(path).read())
    nodes = {n["name"]: n for n in document["nodes"]}
    assert document["schema"] == ExecutionTraceObserver.SCHEMA
    assert nodes["outer"]["ctrl_deps"] == nodes["[pytorch|profiler|execution_trace|thread]"]["id"]
    inner = [n for n in document["nodes"] if n["ctrl_deps"] == nodes["outer"]["id"]]
    assert inner  # the multiplication ran inside the range
    assert document["nodes"][-1]["id"] == 1


def test_as_sparse_gradcheck_round_trips_csr():
    from dlpy.autograd import gradcheck
    from dlpy.sparse import as_sparse_gradcheck

    x = dlpy.tensor([[0.0, 1.5], [2.0, 0.0]], dtype=dlpy.float64).to_sparse_csr()
    x.requires_grad_(True)
    check = as_sparse_gradcheck(gradcheck)
    assert check(lambda s: s.to_dense() * 3, x)
    assert check(lambda s: s.to_sparse_coo(), x, masked=True)


def test_stft_align_to_window_frames_start_at_the_window():
    x = dlpy.tensor(np.arange(20.0) ** 1.5 / 10)
    window = dlpy.hann_window(6, dtype=dlpy.float64)
    out = dlpy.stft(x, 8, 3, 6, window, center=False, return_complex=True, align_to_window=True)
    # frame t: the window (zero-padded to 8, one zero first) over x[3t - 1 : 3t + 7]
    padded = np.r_[0.0, x.numpy(), 0.0]
    frame = padded[3:11] * np.r_[0.0, window.numpy(), 0.0]
    np.testing.assert_allclose(out.numpy()[:, 1], np.fft.rfft(frame), atol=1e-12)
    with pytest.raises(RuntimeError, match="center = false"):
        dlpy.stft(x, 8, window=window, return_complex=True, align_to_window=False)
