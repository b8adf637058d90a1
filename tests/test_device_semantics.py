"""torch 2.13's device semantics: a device equals only a device, the default device, "cpu:0"
accepted wherever a device is, ``to``/``cpu``/``device`` of the special tensors (PackedSequence,
NestedTensor, sparse COO/CSR, MaskedTensor), ``bool``/``int``/``float``/``index`` of a tensor
of several elements, and ``==``/``!=`` of masked and nested tensors. The expected values and
messages are torch 2.13's (checked by hand against it; none needs a fixture)."""

import pickle

import numpy as np
import pytest

import dlpy
from dlpy import nn
from dlpy.masked import masked_tensor
from dlpy.nested import jagged, nested_tensor
from dlpy.nn.utils_rnn import pack_sequence
from dlpy.optim.swa_utils import AveragedModel, update_bn

CPU = dlpy.device("cpu")
CPU0 = dlpy.device("cpu", 0)


# ----------------------------------------------------------------- dlpy.device
def test_device_equals_only_a_device_as_torch():
    assert CPU != "cpu" and not CPU == "cpu" and dlpy.zeros(2).device != "cpu"
    assert CPU == dlpy.device("cpu") and dlpy.zeros(2).device == CPU
    assert CPU != CPU0 and CPU0 == dlpy.device("cpu:0")  # torch: cpu != cpu:0 too
    assert dlpy.zeros(2).device.type == "cpu" and str(dlpy.zeros(2).device) == "cpu"
    # hashed as its (type, index): equal devices one key, a string another
    table = {CPU: 1, CPU0: 2, "cpu": 3}
    assert len(table) == 3 and table[dlpy.device("cpu")] == 1 and table[dlpy.device("cpu:0")] == 2
    assert pickle.loads(pickle.dumps(CPU0)) == CPU0


def test_default_device_set_get_and_context():
    assert dlpy.get_default_device() == CPU
    try:
        dlpy.set_default_device("cpu:0")
        assert dlpy.get_default_device() == CPU0
        with dlpy.device("cpu"):
            assert dlpy.get_default_device() == CPU
            with CPU0:
                assert dlpy.get_default_device() == CPU0
            assert dlpy.get_default_device() == CPU
        assert dlpy.get_default_device() == CPU0
        assert dlpy.zeros(1).device == CPU  # a CPU tensor's device has no index (torch's)
        with pytest.raises(RuntimeError, match="set_default_device: device='cuda'.*no CUDA"):
            dlpy.set_default_device("cuda")
        assert dlpy.get_default_device() == CPU0
        with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
            dlpy.set_default_device("gpu")
    finally:
        dlpy.set_default_device(None)
    assert dlpy.get_default_device() == CPU
    with pytest.raises(RuntimeError, match="device: device='mps'"), dlpy.device("mps"):
        pass
    assert dlpy.get_default_device() == CPU


def test_cpu_0_accepted_wherever_a_device_is():
    model = nn.Sequential(nn.Linear(2, 2, rng=np.random.default_rng(0)))
    for where in (None, "cpu", "cpu:0", CPU, CPU0):
        assert AveragedModel(model, device=where).module is not model
        update_bn([], model, device=where)
        assert model.to_empty(device=where) is model
        mask = nn.Transformer.generate_square_subsequent_mask(2, device=where)
        assert mask[0, 1] == -np.inf and mask[1, 0] == 0
        assert dlpy.Generator(where if where is not None else "cpu").device == CPU
        assert dlpy.sparse_coo_tensor([[0]], [1.0], (2,), device=where).device == CPU
        assert dlpy.sparse_csr_tensor([0, 1], [0], [1.0], (1, 1), device=where).device == CPU
        assert nested_tensor([dlpy.ones(2)], device=where).device == CPU
        assert dlpy.amp.GradScaler(where or "cpu").get_scale() == 2.0 ** 16
    for call, name in ((lambda: AveragedModel(model, device="cuda"), "AveragedModel"),
                       (lambda: update_bn([], model, device="cuda:0"), "update_bn"),
                       (lambda: model.to_empty(device="cuda"), "Sequential.to_empty"),
                       (lambda: nn.Transformer.generate_square_subsequent_mask(
                           2, device=dlpy.device("cuda")), "generate_square_subsequent_mask"),
                       (lambda: dlpy.Generator("cuda"), "Generator"),
                       (lambda: dlpy.sparse_coo_tensor([[0]], [1.0], (2,), device="cuda"),
                        "sparse_coo_tensor"),
                       (lambda: nested_tensor([dlpy.ones(2)], device="cuda"), "nested_tensor")):
        with pytest.raises(RuntimeError, match=f"^{name}: device='cuda(:0)?'.*no CUDA device"):
            call()


# ----------------------------------------------------------------- bool / int / float / index
def test_python_scalars_of_several_elements_raise_as_torch():
    with pytest.raises(RuntimeError, match="^Boolean value of Tensor with more than one value "
                                           "is ambiguous"):
        bool(dlpy.zeros(2))
    with pytest.raises(RuntimeError, match="^Boolean value of Tensor with no values is "
                                           "ambiguous, got shape \\(0,\\)"):
        bool(dlpy.zeros(0))
    assert bool(dlpy.ones((1, 1))) and not bool(dlpy.zeros(1))
    for convert in (int, float, complex):
        with pytest.raises(ValueError, match="^only one element tensors can be converted to "
                                             "Python scalars"):
            convert(dlpy.zeros((2, 3)))
    assert int(dlpy.ones((1, 1))) == 1 and float(dlpy.ones(1)) == 1.0
    for bad in (dlpy.tensor([1, 2]), dlpy.tensor(1.0), dlpy.zeros(0, dtype=np.int64)):
        with pytest.raises(TypeError, match="^only integer tensors of a single element can be "
                                            "converted to an index"):
            [1, 2, 3][bad]
    assert [1, 2, 3][dlpy.tensor(2)] == 3


def test_bool_of_the_special_tensors():
    kept = masked_tensor(dlpy.tensor([1.0, 0.0, 3.0]), dlpy.tensor([True, False, True]))
    one = dlpy.sparse_coo_tensor([[0]], [2.0], (1,))
    nested = nested_tensor([dlpy.ones(3), dlpy.ones(2)], layout=jagged)
    for value in (kept, nested, dlpy.sparse_coo_tensor([[0]], [2.0], (2,))):
        with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
            bool(value)
    assert bool(one) and not bool(dlpy.sparse_coo_tensor([[0]], [0.0], (1,)))
    assert bool(kept[0]) and not bool(masked_tensor(dlpy.zeros(1), dlpy.tensor([True])))
    assert bool(masked_tensor(dlpy.tensor(2.0), dlpy.tensor(True)))
    with pytest.raises(ValueError, match="masked out"):
        bool(kept[1])


# ----------------------------------------------------------------- to / cpu / device
def _check_to(x, values_of):
    """torch's ``to`` overloads on a special tensor x of float32 values."""
    assert x.to("cpu") is x and x.to(np.float32) is x and x.to(CPU0, np.float32) is x
    assert x.to(dtype=np.float32, non_blocking=True) is x and x.cpu() is x
    assert x.device == CPU and x.is_cpu and not x.is_cuda and x.get_device() == -1
    copied = x.to(np.float32, copy=True)
    assert type(copied) is type(x) and copied is not x
    assert not np.shares_memory(values_of(copied).data, values_of(x).data)
    for cast in (x.to(np.float64), x.to("cpu", np.float64), x.to(dlpy.zeros(1, dtype=np.float64)),
                 x.to(device="cpu:0", dtype=dlpy.float64), x.to(x.to(np.float64))):
        assert type(cast) is type(x) and cast.dtype == np.float64
        np.testing.assert_array_equal(values_of(cast).data, values_of(x).data)
    with pytest.raises(RuntimeError, match="to: device='cuda'.*no CUDA device"):
        x.to("cuda")
    with pytest.raises(TypeError, match="to: unexpected keyword 'layout'"):
        x.to(layout=None)


def test_to_of_sparse_nested_masked():
    coo = dlpy.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    _check_to(coo, lambda s: s._values())
    assert coo.to(np.float64).is_coalesced() == coo.is_coalesced()
    assert coo.float() is coo and coo.double().dtype == np.float64
    csr = coo.to_sparse_csr()
    _check_to(csr, lambda s: s.values())
    assert csr.to(np.float64).layout is dlpy.sparse_csr
    np.testing.assert_array_equal(csr.to(np.float64).col_indices().data, [1, 0])
    _check_to(nested_tensor([dlpy.ones(3), dlpy.ones(2)], layout=jagged), lambda n: n.values())
    mask = dlpy.tensor([True, False, True])
    masked = masked_tensor(dlpy.tensor([1.0, 2.0, 3.0]), mask)
    _check_to(masked, lambda m: m.get_data())
    np.testing.assert_array_equal(masked.to(np.int64).get_mask().data, mask.data)
    leaf = masked_tensor(dlpy.tensor([1.0, 2.0, 3.0]), mask, requires_grad=True)
    leaf.to(np.float64).sum().backward()  # the cast is in the graph
    np.testing.assert_array_equal(leaf.grad.get_data().data, [1.0, 0.0, 1.0])


def test_to_and_casts_of_packed_sequence():
    packed = pack_sequence([dlpy.ones((2, 3)), dlpy.ones((3, 3))], enforce_sorted=False)
    assert packed.to("cpu") is packed and packed.to(np.float32) is packed
    assert packed.cpu() is packed and not packed.is_cuda and not packed.is_pinned()
    for cast, dtype in ((packed.to(np.float64), np.float64), (packed.double(), np.float64),
                        (packed.to("cpu:0", np.float16), np.float16), (packed.half(), np.float16),
                        (packed.to(dlpy.zeros(1, dtype=np.int64)), np.int64),
                        (packed.long(), np.int64),
                        (packed.int(), np.int32), (packed.short(), np.int16),
                        (packed.char(), np.int8), (packed.byte(), np.uint8),
                        (packed.cpu(np.float64), np.float64),
                        (packed.to(dtype=np.float32, copy=True), np.float32)):
        assert type(cast) is type(packed) and cast is not packed and cast.data.dtype == dtype
        assert cast.batch_sizes.dtype == np.int64 and cast.sorted_indices.dtype == np.int64
        np.testing.assert_array_equal(cast.unsorted_indices.data, packed.unsorted_indices.data)
    with pytest.raises(RuntimeError, match="to: device='cuda'"):
        packed.to("cuda")


# ----------------------------------------------------------------- == and != of masked, nested
def test_masked_eq_ne_elementwise_hash_by_identity():
    mask = dlpy.tensor([True, False, True])
    a = masked_tensor(dlpy.tensor([1.0, 2.0, 3.0]), mask)
    b = masked_tensor(dlpy.tensor([1.0, 5.0, 4.0]), mask)
    for result, expected in ((a == b, [True, False, False]), (a != b, [False, True, True]),
                             (a == 1.0, [True, False, False]), (a != 1.0, [False, True, True]),
                             (a == dlpy.tensor([1.0, 2.0, 4.0]), [True, True, False]),
                             (dlpy.tensor([1.0, 2.0, 4.0]) == a, [True, True, False]),
                             (np.array([1.0, 0.0, 3.0]) == a, [True, False, True]),
                             (2.0 == a, [False, True, False])):
        assert type(result).__name__ == "MaskedTensor" and result.dtype == np.bool_
        np.testing.assert_array_equal(result.get_data().data, expected)
        np.testing.assert_array_equal(result.get_mask().data, mask.data)
    assert repr(a == b) == "MaskedTensor(\n  [True, --, False]\n)"
    assert (a == None) is False and (a == "x") is False and (a == [1, 2, 3]) is False  # noqa: E711
    assert (a != None) is True  # noqa: E711
    other_mask = masked_tensor(dlpy.tensor([1.0, 2.0, 3.0]), dlpy.tensor([True, True, False]))
    with pytest.raises(ValueError, match="eq: the masks of the two MaskedTensors must match"):
        a == other_mask  # noqa: B015
    assert hash(a) == hash(a) and hash(a) != hash(b) and a in {a} and b not in {a}


def test_nested_eq_ne_elementwise_hash_by_identity():
    n = nested_tensor([dlpy.tensor([1.0, 2.0, 3.0]), dlpy.tensor([4.0, 5.0])], layout=jagged)
    m = nested_tensor([dlpy.tensor([1.0, 0.0, 3.0]), dlpy.tensor([4.0, 6.0])], layout=jagged)
    for result, expected in ((n == m, [[True, False, True], [True, False]]),
                             (n != m, [[False, True, False], [False, True]]),
                             (n == 2.0, [[False, True, False], [False, False]]),
                             (2.0 == n, [[False, True, False], [False, False]]),
                             (dlpy.tensor(2.0) == n, [[False, True, False], [False, False]]),
                             (n != dlpy.tensor(2.0), [[True, False, True], [True, True]])):
        assert result.is_nested and result.dtype == np.bool_
        assert [t.data.tolist() for t in result.unbind()] == expected
    assert (n == None) is False and (n == "x") is False and (n == [1]) is False  # noqa: E711
    with pytest.raises(ValueError, match="eq: nested tensors of different structure"):
        n == nested_tensor([dlpy.ones(1), dlpy.ones(1)], layout=jagged)  # noqa: B015
    assert hash(n) == hash(n) and hash(n) != hash(m) and n in {n} and m not in {n}


def test_module_to_meta_keeps_shapes_and_dtypes_as_torch():
    # torch.func's ensembling recipe: copy.deepcopy(model).to("meta") as a stateless base
    import copy

    from dlpy.func import functional_call, stack_module_state, vmap

    models = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval() for _ in range(2)]
    for model in models:
        model[1].running_mean += dlpy.randn(4).data  # buffers that differ between the models
    base = copy.deepcopy(models[0]).to("meta")
    assert base[0].weight.device == dlpy.device("meta") and base[0].weight.is_meta
    assert base[0].weight.shape == (4, 3) and base[0].weight.dtype == np.float32
    assert base[1].num_batches_tracked.dtype == np.int64  # buffers too, ints stay ints
    tracked = base[1].num_batches_tracked
    assert tracked.is_meta and not any(tracked.data.strides)  # one element for all
    assert models[0][0].weight.device == dlpy.device("cpu") and not models[0][0].weight.is_meta
    assert base[0].weight.data.strides == (0, 0)  # no storage of its own
    params, buffers = stack_module_state(models)
    x = dlpy.randn(5, 3)
    out = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(
        params, buffers, x)
    for k, model in enumerate(models):
        np.testing.assert_allclose(out[k].data, model(x).data, rtol=1e-6)
    with pytest.raises(RuntimeError, match="there is no CUDA device"):
        nn.Linear(2, 2).to("cuda")
