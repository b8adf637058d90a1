"""In-place tensor ops (add_, x += y, x[i] = v...) and the version counter that refuses a backward
through an op whose saved arrays were changed after it ran. Reference values: tests/fixtures/
inplace (tests/fixtures/make_inplace_fixtures.py runs the cases of cases_inplace.py in torch)."""

from pathlib import Path

import numpy as np
import pytest
from cases_inplace import CASES

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn, optim
from dlpy.autograd import grad as autograd_grad
from dlpy.tensor import increment_version
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "inplace" / "inplace.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def test_every_fixture_case_is_tested(reference):
    assert {k.split(":")[0] for k in reference if k.endswith(":out")} == set(CASES)


# ----------------------------------------------------------------------------- values, gradients
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_on_a_constant_and_on_a_leaf_under_no_grad(reference, case):
    """Nothing records: the array itself changes (a view of it sees the change)."""
    h = Tensor(reference["x"].copy())
    alias = h.detach()
    out = CASES[case](h, Tensor(reference["o"]), np.array)
    assert out is h and not h.requires_grad and h._version >= 1
    np.testing.assert_allclose(h.data, reference[f"{case}:out"], rtol=1e-12, atol=1e-12)
    assert alias.data is h.data  # changed in place, not replaced

    w = Tensor(reference["x"].copy(), requires_grad=True)
    with dlpy.no_grad():
        assert CASES[case](w, Tensor(reference["o"]), np.array) is w
    assert w.is_leaf and w.requires_grad and w.grad is None
    np.testing.assert_allclose(w.data, reference[f"{case}:out"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_recorded_in_place_ops_give_torchs_gradients(reference, case):
    """On a tensor a recorded op produced the in-place op is recorded too (the tensor is
    rebased onto a new op), as PyTorch's."""
    x = Tensor(reference["x"].copy(), requires_grad=True)
    o = Tensor(reference["o"].copy(), requires_grad=True)
    h = x.clone()
    out = CASES[case](h, o, np.array)
    assert out is h and h.requires_grad and not h.is_leaf
    np.testing.assert_allclose(h.data, reference[f"{case}:out"], rtol=1e-12, atol=1e-12)
    (h * Tensor(reference["g"])).sum().backward()
    for name, leaf in (("x", x), ("o", o)):
        got = np.zeros_like(leaf.data) if leaf.grad is None else leaf.grad
        np.testing.assert_allclose(got, reference[f"{case}:{name}_grad"], rtol=1e-12,
                                   atol=1e-12, err_msg=f"{case}: gradient of {name}")
    np.testing.assert_array_equal(x.data, reference["x"])  # the leaves are untouched
    np.testing.assert_array_equal(o.data, reference["o"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_recorded_in_place_ops_pass_the_gradient_check(reference, case):
    x = Tensor(reference["x"].copy(), requires_grad=True)
    o = Tensor(reference["o"].copy(), requires_grad=True)
    assert gradcheck(lambda x, o: CASES[case](x.clone(), o, np.array), x, o)


def test_in_place_op_on_a_constant_given_a_value_that_requires_grad_records():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = dlpy.zeros(2, dtype=np.float64)
    c.add_(w * 3)  # as torch: c stops being a constant
    assert c.requires_grad and not c.is_leaf and c.tolist() == [3.0, 6.0]
    c.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]
    buffer = dlpy.zeros(2, 3, dtype=np.float64)
    buffer[1] = w[0] * np.ones(3)
    buffer.sum().backward()
    assert w.grad.tolist() == [6.0, 3.0]


# ----------------------------------------------------------------------------- identity, rules
def test_augmented_assignment_changes_the_tensor_in_place():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32))
    same, array = x, x.data
    x += 1
    x *= Tensor(np.array([2.0, 3.0], dtype=np.float32))
    x -= 1
    x /= 2
    x **= 2
    assert x is same and x.data is array and x.dtype == np.float32
    assert x.tolist() == [2.25, 16.0] and x._version == 5
    w = Tensor(np.ones(2), requires_grad=True)
    h = w * 2
    before = h
    h += w  # recorded: same object, new array and op
    assert h is before and h.requires_grad
    h.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_a_leaf_that_requires_grad_changes_only_under_no_grad():
    w = Tensor(np.ones(3), requires_grad=True)
    leaf = r"{}: a leaf tensor that requires grad can be changed in place only under dlpy.no_grad"
    with pytest.raises(RuntimeError, match=leaf.format("add_")):
        w.add_(1)
    with pytest.raises(RuntimeError, match=leaf.format(r"\+=")):
        w += 1  # no silent fallback to w = w + 1
    with pytest.raises(RuntimeError, match="setitem: a view of a leaf tensor that requires grad"):
        w[0] = 5.0  # (torch writes through the view w[0])
    with pytest.raises(RuntimeError, match=leaf.format("setitem")):
        w[:] = 5.0
    with pytest.raises(RuntimeError, match=leaf.format("copy_")):
        w.copy_(np.zeros(3))
    assert w.tolist() == [1.0, 1.0, 1.0] and w._version == 0
    dlpy.manual_seed(3)
    with pytest.raises(RuntimeError, match=leaf.format("normal_")):
        w.normal_()
    first = dlpy.default_generator().standard_normal()  # nothing was drawn before the error
    dlpy.manual_seed(3)
    assert dlpy.default_generator().standard_normal() == first
    with dlpy.no_grad():
        w.add_(1)
        w[0] = 5.0
    assert w.tolist() == [5.0, 2.0, 2.0] and w.is_leaf and w.requires_grad


def test_dtype_and_shape_rules():
    t = Tensor(np.array([-7, 7], dtype=np.int64))
    with pytest.raises(TypeError, match=r"add_: a result of dtype float32 cannot be stored in "
                                        r"place in a tensor of dtype int64"):
        t.add_(0.5)
    with pytest.raises(TypeError, match=r"/=: a result of dtype float32"):
        t /= 2
    assert t.div_(2, rounding_mode="floor") is t and t.dtype == np.int64 and t.tolist() == [-4, 3]
    assert Tensor(np.array([-7, 7])).div(2, rounding_mode="trunc").tolist() == [-3, 3]
    with pytest.raises(ValueError, match=r"div: rounding_mode must be None, 'trunc' or 'floor', "
                                         r"got 'round'"):
        t.div_(2, rounding_mode="round")
    x = Tensor(np.zeros(3, dtype=np.float32))
    x.add_(np.ones(3))  # a float64 operand: cast to the tensor's dtype, as torch's
    assert x.dtype == np.float32 and x.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"add_: output with shape \[3\] doesn't match the "
                                         r"broadcast shape \[2, 3\]"):
        x.add_(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"add_: output with shape \[3\]"):  # torch's class
        x.clone().add_(Tensor(np.ones((2, 3)), requires_grad=True))  # the recorded path too
    with pytest.raises(ValueError, match=r"copy_: src of shape \(2,\) does not broadcast to the "
                                         r"tensor's shape \(3,\)"):
        x.copy_(np.ones(2))
    with pytest.raises(ValueError, match=r"fill_: value of shape \(3,\) does not broadcast"):
        Tensor(np.zeros(2)).fill_(np.ones(3))
    ints = Tensor(np.zeros(3, dtype=np.int64))
    assert ints.copy_(np.array([1.7, -2.7, 3.2])).tolist() == [1, -2, 3]  # copy_ casts
    assert ints.fill_(2.5).tolist() == [2, 2, 2]
    readonly = Tensor(np.broadcast_to(np.ones(3), (2, 3)))
    readonly.mul_(2)  # a read-only array: the tensor gets one of its own
    assert readonly.tolist() == [[2.0] * 3] * 2


def test_index_fill_and_setitem_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match=r"index_fill_: index out of range for axis 1 of length "
                                         r"3, got \[0, 3\]"):
        x.index_fill_(1, [0, 3], 1.0)
    with pytest.raises(TypeError, match=r"index_fill_: index must be integers"):
        x.index_fill_(0, np.array([0.5]), 1.0)
    with pytest.raises(ValueError, match=r"index_fill_"):
        x.index_fill_(2, [0], 1.0)
    assert x.index_fill_(-1, np.array([-1]), 4.0).tolist() == [[0, 0, 4.0], [0, 0, 4.0]]
    with pytest.raises(IndexError, match=r"setitem: cannot set index 5 of a tensor of shape "
                                         r"\(2, 3\)"):
        x[5] = 1.0
    with pytest.raises(ValueError, match=r"setitem: cannot set index 0 .* to a value of shape "
                                         r"\(2,\)"):
        x[0] = np.ones(2)
    h = Tensor(np.zeros((2, 3)), requires_grad=True) * 1
    with pytest.raises(IndexError, match=r"setitem: index 5 is invalid for shape \(2, 3\)"):
        h[5] = 1.0
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(2,\) does not broadcast "
                                         r"to x\[index\]'s shape \(3,\)"):
        h[0] = np.ones(2)


def test_views_change_with_their_base():
    c = Tensor(np.zeros((2, 3)))
    c[0].add_(1)  # a basic index is a view: c changes, as torch's
    c.reshape(6)[5:].fill_(7)
    assert c.tolist() == [[1, 1, 1], [0, 0, 7]] and c._version == 2
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    h = w * 2
    row = h[0]
    row.mul_(2)  # through a view while recording: h changes and its gradient follows (CopySlices)
    assert h.tolist() == [[4, 4, 4], [2, 2, 2]] and row._base is h and h._base is None
    assert h.grad_fn.name() == "torch::autograd::CopySlices"
    assert row.grad_fn.name() == "AsStridedBackward0"
    h[1] *= 3  # Python writes the view back with setitem
    assert h.tolist() == [[4, 4, 4], [6, 6, 6]]
    tail = h[:, 1:]
    h.mul_(10)  # the base changed: its earlier view sees it, and its gradient reaches w
    assert tail.tolist() == [[40, 40], [60, 60]]
    (h.sum() + tail.sum()).backward()
    assert w.grad.tolist() == [[40, 80, 80], [60, 120, 120]]
    with pytest.raises(RuntimeError, match=r"mul_: a view of a leaf tensor that requires grad "
                                           r"is being used in an in-place operation"):
        w[0].mul_(2)


# ----------------------------------------------------------------------------- version counter
def test_the_version_counter_refuses_a_changed_input():
    # x requires grad, so Mul reads w (for x's gradient); with a constant x it would not, and
    # the change is allowed, as torch's (this test used a constant x before dlpy's checks
    # followed what each op reads: tests/test_inplace_precise.py)
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    x = Tensor(np.full((3, 4), 2.0), requires_grad=True)
    y = w * x
    with dlpy.no_grad():
        w.mul_(2)
    assert w._version == 1
    with pytest.raises(RuntimeError, match=r"backward: input 0 of Mul \(shape \(3, 4\)\) was "
                                           r"modified in place after Mul used it \(it is at "
                                           r"version 1; expected version 0 instead\)"):
        y.sum().backward()
    y = w * x  # recorded after the change: fine
    with dlpy.no_grad():
        x.data[...] = 5.0  # numpy writes are not tracked (documented)
    y.sum().backward()
    assert x._version == 0 and w.grad.numpy()[0, 0] == 5.0


def test_a_recorded_tensor_changed_after_use_refuses_its_old_consumers():
    w = Tensor(np.ones(3), requires_grad=True)
    h = w * 2
    z = h * 3  # Mul by a constant does not read h: allowed, on the old h's history (torch's)
    h.mul_(5)
    assert h._version == 1
    z.sum().backward()
    assert w.grad.tolist() == [6.0, 6.0, 6.0]
    w.grad = None
    v = Tensor(np.full(3, 3.0), requires_grad=True)
    h = w * 2
    z = h * v  # reads h for v's gradient: refused (before, dlpy refused the case above too)
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"input 0 of Mul \(shape \(3,\)\) was modified"):
        z.sum().backward()
    h = w * 2
    seen = []
    h.register_hook(lambda grad: seen.append(grad.numpy().copy()))
    h.mul_(3)  # the hook stays with the old value (torch's rule): it sees 3, w gets 6
    h.sum().backward()
    assert seen[0].tolist() == [3.0, 3.0, 3.0] and w.grad.tolist() == [6.0, 6.0, 6.0]


def test_detach_and_views_share_the_version():
    w = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = w.exp()  # Exp saves its output
    y.detach().add_(1)  # the same array: y's saved state changed
    assert y._version == 1 and y.detach()._version == 1 and Tensor(y)._version == 1
    with pytest.raises(RuntimeError, match=r"backward: the output of Exp \(shape \(2,\)\) was "
                                           r"modified in place"):
        y.sum().backward()
    c = Tensor(np.arange(4.0))
    view = c.reshape(2, 2)  # unrecorded: a numpy view of c
    y = w.reshape(2, 1) * view
    c.add_(1)
    assert view._version == 1
    with pytest.raises(RuntimeError, match=r"input 1 of Mul \(shape \(2, 2\)\)"):
        y.sum().backward()


def test_optimisers_bump_the_version():
    w = nn.Parameter(np.ones(3))
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)  # so Mul reads w (torch's rule)
    for opt in (optim.SGD([w], lr=0.1), optim.Adam([w], lr=0.1)):
        (w * x).sum().backward()
        y = (w * x).sum()
        version = w._version
        opt.step()
        assert w._version == version + 1
        with pytest.raises(RuntimeError, match=r"input 0 of Mul \(shape \(3,\)\) was modified"):
            y.backward()
        opt.zero_grad()

    lbfgs = optim.LBFGS([w], lr=0.5, max_iter=3)
    y = (w * x).sum()

    def closure():
        lbfgs.zero_grad()
        loss = ((w * x).sum() - 1) ** 2
        loss.backward()
        return loss

    lbfgs.step(closure)  # every closure records afresh: no error inside
    with pytest.raises(RuntimeError, match=r"was modified in place"):
        y.backward()

    model = nn.Linear(2, 1)
    averaged = optim.swa_utils.AveragedModel(model)
    weight = averaged.module.weight
    out = (weight * weight).sum()  # Mul reads weight (a sum would not: allowed, as torch)
    averaged.update_parameters(model)
    with pytest.raises(RuntimeError, match=r"was modified in place"):
        out.backward()


def test_increment_version_and_the_double_backward_pass():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (w * w).sum()
    increment_version(w.data)  # a change made with numpy, declared
    with pytest.raises(RuntimeError, match=r"input 0 of Mul"):
        autograd_grad(y, w, create_graph=True)
    y = (w * w).sum()
    (g,) = autograd_grad(y, w, create_graph=True)
    assert g.tolist() == [2.0, 4.0]


# ----------------------------------------------------------------------------- random fills
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_and_uniform_follow_manual_seed_and_init(dtype):
    dlpy.manual_seed(11)
    a = Tensor(np.zeros((4, 5), dtype=dtype)).normal_(1.0, 2.0)
    b = Tensor(np.zeros((4, 5), dtype=dtype)).uniform_(-3.0, 3.0)
    dlpy.manual_seed(11)
    a2 = nn.init.normal_(Tensor(np.zeros((4, 5), dtype=dtype)), 1.0, 2.0)
    b2 = nn.init.uniform_(Tensor(np.zeros((4, 5), dtype=dtype)), -3.0, 3.0)
    np.testing.assert_array_equal(a.data, a2.data)
    np.testing.assert_array_equal(b.data, b2.data)
    assert a.dtype == dtype and b.dtype == dtype and b.data.min() >= -3 and b.data.max() <= 3
    assert abs(a.data.mean() - 1.0) < 1.5 and len(set(b.data.ravel().tolist())) == 20
    generator = np.random.default_rng(5)
    c = Tensor(np.zeros(3, dtype=dtype)).uniform_(generator=generator)
    np.testing.assert_array_equal(c.data, np.random.default_rng(5).uniform(0, 1, 3).astype(dtype))
    with pytest.raises(ValueError, match=r"normal_: std must be >= 0, got -1"):
        a.normal_(0.0, -1)
    with pytest.raises(TypeError, match=r"uniform_: random values need a floating-point tensor"):
        Tensor(np.zeros(2, dtype=np.int64)).uniform_()


def test_random_fill_of_a_recorded_tensor_cuts_the_gradient():
    w = Tensor(np.ones(3), requires_grad=True)
    h = w * 2
    h.uniform_(5.0, 6.0)
    assert h.requires_grad and h.data.min() >= 5.0
    (h * w).sum().backward()  # only the second factor reaches w
    np.testing.assert_array_equal(w.grad, h.data)


# ----------------------------------------------------------------------------- learning
def test_a_hand_written_sgd_loop_trains():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 3)))
    true_w = np.array([[1.5], [-2.0], [0.5]])
    y = Tensor(x.data @ true_w + 0.3)
    model = nn.Linear(3, 1, rng=np.random.default_rng(1), dtype=np.float64)
    params = list(model.parameters())
    momentum = [Tensor(np.zeros_like(p.data)) for p in params]
    lr = 0.1
    first = None
    for _ in range(150):
        loss = ((model(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        for p in params:
            p.grad = None
        loss.backward()
        with dlpy.no_grad():
            for p, buf in zip(params, momentum):
                buf.mul_(0.5).add_(p.grad)  # momentum, as people write it in torch
                p.sub_(lr * buf)
    final = ((model(x) - y) ** 2).mean().item()
    assert first > 1.0 and final < 1e-6
    np.testing.assert_allclose(model.weight.data.reshape(-1), true_w.reshape(-1), atol=1e-3)


def test_an_operand_computed_from_the_tensor_itself():
    """h += f(h): the ops of f ran on the old h and keep it (the engine points them at it)."""
    w = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    h = w * 2
    h += h.exp()
    h.mul_(h.sigmoid())
    h[0] += h[1] * 3
    expected = Tensor(w.data.copy(), requires_grad=True)
    r = expected * 2
    r = r + r.exp()
    r = r * r.sigmoid()
    r = F.stack([r[0] + r[1] * 3, r[1]])
    np.testing.assert_allclose(h.data, r.data, rtol=1e-12)
    (h * Tensor(np.array([1.0, -2.0]))).sum().backward()
    (r * Tensor(np.array([1.0, -2.0]))).sum().backward()
    np.testing.assert_allclose(w.grad, expected.grad, rtol=1e-12)


def test_a_long_chain_of_in_place_ops():
    w = Tensor(np.ones(3), requires_grad=True)
    h = w * 1
    for _ in range(10_000):
        h.add_(w)  # each records an op on a stand-in of the last value
    h += h * 0.5
    h.sum().backward()
    assert w.grad.tolist() == [1.5 * 10_001] * 3 and h.tolist() == [1.5 * 10_001] * 3


def test_function_ops_and_init_are_version_checked():
    class Square(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return 2 * x * grad_output

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Square.apply(w)
    with dlpy.no_grad():
        w.mul_(3)
    # refused when backward reads ctx.saved_tensors (as torch's unpacking), not before
    with pytest.raises(RuntimeError, match="saved tensor 0 was modified by an inplace operation"):
        y.sum().backward()

    layer = nn.Linear(3, 2)  # the input requires grad, so linear reads the weight (torch's rule)
    out = layer(Tensor(np.ones((1, 3), dtype=np.float32), requires_grad=True))
    with dlpy.no_grad():
        nn.init.zeros_(layer.weight)
    with pytest.raises(RuntimeError, match="modified in place"):
        out.sum().backward()



def test_writes_into_a_region_of_an_expanded_or_unfolded_tensor_reach_its_base():
    b = dlpy.arange(4.0)
    e = b.expand(3, 4)
    e[0].fill_(1.0)  # a view whose own elements are distinct: written to b, as torch's (dlpy
    np.testing.assert_array_equal(b.data, [1.0, 1.0, 1.0, 1.0])  # used to change a copy)
    e[0][1:3] = 5.0
    e[1, 3] = 7.0
    np.testing.assert_array_equal(b.data, [1.0, 5.0, 5.0, 7.0])
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        e[:, 0] = 2.0  # three elements of e share b[0]
    w = dlpy.arange(6.0)
    w.unfold(0, 3, 1)[:, 0] = 1.0  # b[0..3], once each
    np.testing.assert_array_equal(w.data, [1.0, 1.0, 1.0, 1.0, 4.0, 5.0])
    x = dlpy.arange(5.0)
    with pytest.raises(RuntimeError, match="some elements of the input tensor and the "
                                           "written-to tensor refer to a single memory"):
        x[1:] = x[:-1]  # partly overlapping source: torch's refusal (numpy would copy)
    x[:2] = x[3:]  # disjoint memory of the same tensor is fine
    np.testing.assert_array_equal(x.data, [3.0, 4.0, 2.0, 3.0, 4.0])
