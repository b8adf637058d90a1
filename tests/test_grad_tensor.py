"""A leaf's .grad is a dlpy Tensor (as PyTorch's): in-place changes through it reach the
optimisers, assignment is checked, numpy still reads it, hooks get Tensors."""

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn, optim
from dlpy.sparse_grad import SparseGrad


def square_loss(x: Tensor) -> Tensor:
    return (x * x).sum()


def leaf(*values, dtype=np.float64) -> Tensor:
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


def test_grad_is_a_plain_tensor_after_backward_and_none_before():
    x = leaf(1.0, 2.0)
    assert x.grad is None
    square_loss(x).backward()
    assert type(x.grad) is Tensor
    assert not x.grad.requires_grad and x.grad.grad_fn is None and x.grad.is_leaf
    assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_numpy_reads_the_gradient_without_a_copy():
    x = leaf(1.0, -3.0)
    square_loss(x).backward()
    array = np.asarray(x.grad)
    assert array is x.grad.data
    assert float(np.abs(x.grad).max()) == 6.0
    np.testing.assert_allclose(x.grad, [2.0, -6.0])
    assert x.grad.norm().item() == pytest.approx(np.hypot(2.0, 6.0))
    copy = x.grad.clone()
    copy.zero_()
    assert x.grad.numpy()[1] == -6.0


def test_backward_accumulates_into_the_same_gradient_in_place():
    x = leaf(1.0, 2.0)
    square_loss(x).backward()
    grad = x.grad
    square_loss(x).backward()
    assert x.grad is grad  # as torch: the old .grad is added to
    np.testing.assert_array_equal(grad.numpy(), [4.0, 8.0])


@pytest.mark.parametrize("change, factor", [
    (lambda g: g.zero_(), 0.0),
    (lambda g: g.mul_(0.5), 0.5),
    (lambda g: g.add_(g), 2.0),
    (lambda g: g.__setitem__(Ellipsis, 0.0), 0.0),
    (lambda g: g.data.fill(0.0), 0.0),  # dlpy's .data is the numpy array
])
def test_in_place_changes_through_grad_are_what_the_optimiser_sees(change, factor):
    p = nn.Parameter(np.array([1.0, -2.0], dtype=np.float32))
    square_loss(p).backward()
    change(p.grad)
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, np.array([1.0, -2.0]) * (1 - 0.2 * factor), rtol=1e-6)


def test_assigning_a_tensor_none_or_an_array():
    x = leaf(1.0, 2.0, dtype=np.float32)
    g = Tensor(np.array([0.5, 0.5], dtype=np.float32))
    x.grad = g
    assert x.grad is g
    x.grad = None
    assert x.grad is None
    x.grad = np.array([1.0, 2.0])  # an array (dlpy's old .grad): cast to the tensor's dtype
    assert type(x.grad) is Tensor and x.grad.dtype == np.float32
    square_loss(x).backward()
    np.testing.assert_allclose(x.grad, [3.0, 6.0])


def test_assigning_a_gradient_of_another_shape_or_dtype_is_refused():
    x = leaf(1.0, 2.0, dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"shape \(3,\) to a tensor of shape \(2,\)"):
        x.grad = Tensor(np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match=r"shape \(2, 1\) to a tensor of shape \(2,\)"):
        x.grad = np.zeros((2, 1))
    with pytest.raises(RuntimeError, match="dtype float64 to a tensor of dtype float32"):
        x.grad = Tensor(np.zeros(2))
    with pytest.raises(TypeError, match="expected a Tensor, a numpy array or None, got a str"):
        x.grad = "zeros"
    assert x.grad is None


def test_zero_grad_in_place_keeps_the_tensor_and_none_drops_it():
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(Tensor(np.ones((4, 3), np.float32))).sum().backward()
    grad = model.weight.grad
    opt.zero_grad(set_to_none=False)
    assert model.weight.grad is grad and not grad.numpy().any()
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_clip_grad_norm_and_value_change_the_gradient_tensors_in_place():
    a, b = leaf(3.0, 0.0), leaf(0.0, 4.0)
    (a.sum() * 3 + (b * Tensor(np.array([0.0, 4.0]))).sum()).backward()  # grads (3,3), (0,4)
    grad_a = a.grad
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(np.sqrt(34.0))
    assert a.grad is grad_a
    norm = np.sqrt(sum(float((np.asarray(p.grad) ** 2).sum()) for p in (a, b)))
    assert norm == pytest.approx(1.0, rel=1e-5)
    nn.utils.clip_grad_value_([b], 0.1)
    np.testing.assert_allclose(b.grad, [0.0, 0.1])


def test_non_leaf_grad_only_with_retain_grad():
    x = leaf(1.0, 2.0)
    y, z = x * 3, x * 2
    y.retain_grad()
    (y * z).sum().backward()
    assert z.grad is None
    assert type(y.grad) is Tensor
    np.testing.assert_allclose(y.grad, z.data)


def test_hooks_get_tensors():
    x = leaf(1.0, 2.0)
    seen = {}

    def tensor_hook(grad):
        seen["tensor"] = grad
        return grad * 2

    x.register_hook(tensor_hook)
    x.register_post_accumulate_grad_hook(lambda t: seen.update(post=t.grad))
    y = x * 3
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.update(
        node=grad_inputs + grad_outputs))
    y.sum().backward()
    assert type(seen["tensor"]) is Tensor
    assert [type(g) for g in seen["node"]] == [Tensor, type(None), Tensor]  # 3 needs none
    assert seen["post"] is x.grad
    np.testing.assert_allclose(x.grad, [6.0, 6.0])  # the hook's doubled gradient


def test_module_full_backward_hooks_get_tensors():
    model = nn.Linear(2, 1)
    seen = []
    model.register_full_backward_hook(lambda m, grad_in, grad_out: seen.append(
        grad_in + grad_out))
    model(Tensor(np.ones((3, 2), np.float32), requires_grad=True)).sum().backward()
    assert seen and all(type(g) is Tensor for g in seen[0])


def test_sparse_and_complex_gradients():
    emb = nn.Embedding(5, 2, sparse=True)
    emb(Tensor(np.array([1, 3]))).sum().backward()
    assert isinstance(emb.weight.grad, SparseGrad)  # sparse gradients stay SparseGrad
    z = Tensor(np.array([1 + 2j, 3j]), requires_grad=True)
    (z * z).abs().sum().backward()
    assert isinstance(z.grad, Tensor) and z.grad.dtype.kind == "c"
    z.grad.zero_()
    assert not np.asarray(z.grad).any()


def test_optimisers_and_lbfgs_read_tensor_gradients():
    target = np.array([1.0, -1.0], dtype=np.float32)
    for make in (lambda p: optim.Adam([p], lr=0.1), lambda p: optim.Muon([p], lr=0.1)
                 if p.ndim == 2 else optim.AdamW([p], lr=0.1)):
        p = nn.Parameter(np.zeros(2, np.float32))
        opt = make(p)
        for _ in range(50):
            opt.zero_grad()
            ((p - Tensor(target)) ** 2).sum().backward()
            opt.step()
        np.testing.assert_allclose(p.data, target, atol=0.05)
    p = nn.Parameter(np.zeros(2, np.float32))
    opt = optim.LBFGS([p], lr=1.0)

    def closure():
        opt.zero_grad()
        loss = ((p - Tensor(target)) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(p.data, target, atol=1e-4)


def test_gradcheck_still_passes_and_restores_grad():
    x = leaf(0.3, -0.7)
    x.grad = np.array([5.0, 5.0])
    assert dlpy.autograd.gradcheck(lambda t: (t * t).tanh(), (x,))
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_float16_sparse_gradients_coalesce_as_torchs_sequential_sums():
    # torch's coalesce adds a repeated row's values in lookup order, each sum rounded to
    # float16; numpy's reduceat keeps float32 partial sums (5 of 16 values came out otherwise)
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((5, 16)) * 100).astype(np.float16)
    grad = SparseGrad(np.zeros(5, dtype=np.int64), values, (1, 16))
    want = values[0].copy()
    for row in values[1:]:
        want = (want.astype(np.float32) + row.astype(np.float32)).astype(np.float16)
    got = grad.coalesce()
    assert got.values.dtype == np.float16
    np.testing.assert_array_equal(got.values[0], want)
    floats = SparseGrad(np.array([1, 0, 1]), np.arange(6.0).reshape(3, 2), (2, 2)).coalesce()
    np.testing.assert_array_equal(floats.values, [[2.0, 3.0], [4.0, 6.0]])
