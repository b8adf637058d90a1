"""``==`` and ``!=`` on Tensors compare element by element, as PyTorch's; hashing stays by
identity, ``in`` and ``__contains__`` follow torch, and backward's in-place accumulation into
``.grad`` bumps its version. Expected values are torch 2.13's answers to the same lines."""

import numpy as np
import pytest

import dlpy
from dlpy import Tensor
from dlpy.nn import Parameter


def values(t):
    assert isinstance(t, Tensor), f"expected a Tensor, got {type(t).__name__}"
    return t.numpy()


def test_training_loop_accuracy_lines():
    logits = Tensor(np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [0.2, 0.1, 0.9],
                              [1.0, 1.5, 0.0]], dtype=np.float32), requires_grad=True)
    y = Tensor(np.array([1, 0, 1, 1]))
    assert (logits.argmax(1) == y).float().mean().item() == pytest.approx(0.75)
    assert (logits.argmax(1) == y).sum().item() == 3
    assert (logits.argmax(1) != y).sum().item() == 1
    pred, target = Tensor(np.array([2, 2, 0, 1, 2])), Tensor(np.array([2, 1, 0, 1, 0]))
    assert (pred == target).sum().item() == 3


def test_result_is_a_boolean_tensor_without_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for mask in (x == 2.0, x != 2.0, x == x, 2.0 == x):
        assert mask.dtype == np.bool_ and not mask.requires_grad and mask.op is None
    np.testing.assert_array_equal(values(x == x), [True, True, True])
    (x * (x != 2.0).float()).sum().backward()  # the mask passes no gradient, x gets one
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])


def test_broadcasting_and_shape_errors():
    a = Tensor(np.arange(3).reshape(3, 1))
    b = Tensor(np.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(values(a == b), np.arange(3).reshape(3, 1) == np.arange(4))
    np.testing.assert_array_equal(values(a != b), np.arange(3).reshape(3, 1) != np.arange(4))
    with pytest.raises(ValueError, match=r"equal: the shapes \(3,\) and \(2,\) do not broadcast"):
        Tensor(np.ones(3)) == Tensor(np.ones(2))  # noqa: B015


def test_dtypes_int_float_bool():
    ints = Tensor(np.array([1, 2, 3]))
    np.testing.assert_array_equal(values(ints == 2.0), [False, True, False])
    np.testing.assert_array_equal(values(ints == Tensor(np.array([1.0, 2.5, 3.0]))),
                                  [True, False, True])
    flags = Tensor(np.array([True, False]))
    np.testing.assert_array_equal(values(flags == True), [True, False])  # noqa: E712
    np.testing.assert_array_equal(values(flags != Tensor(np.array([True, True]))),
                                  [False, True])
    nan = Tensor(np.array([np.nan, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(values(nan == nan), [False, True])
    np.testing.assert_array_equal(values(nan != nan), [True, False])
    z = Tensor(np.array([1 + 2j, 3j]))
    np.testing.assert_array_equal(values(z == 3j), [False, True])


def test_number_and_numpy_on_either_side():
    t = Tensor(np.array([1, 2, 3]))
    np.testing.assert_array_equal(values(2 == t), [False, True, False])
    np.testing.assert_array_equal(values(2.5 != t), [True, True, True])
    array = np.array([1, 0, 3])
    for result in (t == array, array == t, np.equal(array, t)):
        np.testing.assert_array_equal(values(result), [True, False, True])
    np.testing.assert_array_equal(values(array != t), [False, True, False])
    np.testing.assert_array_equal(values(np.int64(2) == t), [False, True, False])
    np.testing.assert_array_equal(values(t != np.float32(3)), [True, True, False])


def test_none_and_unrelated_objects_are_not_equal():
    t = Tensor(np.array([1, 2, 3]))
    strings = np.array(["a", "b", "c"])
    for other in (None, "abc", [1, 2, 3], (1, 2, 3), object(), strings):
        assert (t == other) is False and (other == t) is False
        assert (t != other) is True and (other != t) is True


def test_hash_is_identity_dicts_and_sets():
    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 2.0]))
    assert hash(a) == id(a) and hash(a) != hash(b)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    w, v = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    assert {w, v} - {w} == {v} and w in {w: 0} and v not in {w: 0}


def test_in_a_list_as_torch():
    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 2.0]))
    assert a in [a, b]  # the first element, by identity
    with pytest.raises(RuntimeError, match="ambiguous"):
        b in [a, b]  # noqa: B015  (a == b, then bool() of two elements, as torch)
    one, same = Tensor(np.array([1.0])), Tensor(np.array([1.0]))
    assert same in [one] and Tensor(np.array([5.0])) not in [one]  # one element: by value


def test_contains():
    t = Tensor(np.array([[1, 2], [3, 4]]))
    assert 3 in t and 5 not in t and 2.0 in t and np.int64(4) in t
    assert Tensor(np.array([1, 2])) in t and Tensor(np.array([0, 9])) not in t
    assert Tensor(np.array(4)) in t
    with pytest.raises(RuntimeError, match="only supports Tensor or scalar, but you passed in "
                                           "a str"):
        "a" in t  # noqa: B015
    with pytest.raises(RuntimeError, match="passed in a NoneType"):
        None in t  # noqa: B015


def test_equal_stays_a_python_bool():
    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 2.0]))
    assert dlpy.equal(a, b) is True and a.equal(b) is True
    assert dlpy.equal(a, Tensor(np.array([1.0, 3.0]))) is False
    assert a.equal(Tensor(np.array([1.0, 2.0, 3.0]))) is False


def test_under_vmap():
    t = Tensor(np.array([[1, 2], [2, 2]]))
    np.testing.assert_array_equal(values(dlpy.func.vmap(lambda row: row == 2)(t)),
                                  [[False, True], [True, True]])
    np.testing.assert_array_equal(values(dlpy.func.vmap(lambda row: 1 != row)(t)),
                                  [[False, True], [True, True]])


def test_flex_attention_mask_mod_with_eq():
    from dlpy.nn.attention.flex_attention import create_mask

    mask = create_mask(lambda b, h, q_idx, kv_idx: q_idx == kv_idx, 1, 1, 3, 3)
    np.testing.assert_array_equal(values(mask), np.eye(3, dtype=bool)[None, None])


def test_grad_accumulation_bumps_version():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    grad = x.grad
    version = grad._version
    w = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    y = (w * grad).sum()  # saves the old gradient for w's
    (x * x).sum().backward()  # adds into x.grad in place
    assert x.grad is grad and grad._version == version + 1
    np.testing.assert_array_equal(grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_grad_accumulation_within_one_pass_as_torch():
    # torch 2.13: q's gradient reads the old x.grad; which runs first decides (the same here)
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    q = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    (x * x).sum().backward()
    ((x * x).sum() + (x.grad * q).sum()).backward()  # q's gradient before x's accumulates
    np.testing.assert_array_equal(q.grad.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ((x.grad * q).sum() + (x * x).sum()).backward()
    w = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    (w * x.grad).sum().backward()  # recorded after the change: fine
    np.testing.assert_array_equal(w.grad.numpy(), x.grad.numpy())
