"""einsum, the named matrix products (mm, bmm, mv, dot, outer, tensordot, addmm, baddbmm, kron)
and the diagonals (trace, diagonal, diag_embed, diag): gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "matmul": lambda a, b: F.einsum("ij,jk->ik", a, b),
    "batched": lambda a, b: F.einsum("bij,bjk->bik", a, b),
    "bilinear": lambda x, w, y: F.einsum("bn,anm,bm->ba", x, w, y),
    "trace": lambda a: F.einsum("ii", a),
    "diagonal": lambda a: F.einsum("ii->i", a),
    "outer": lambda a, b: F.einsum("i,j->ij", a, b),
    "transpose": lambda a: F.einsum("ij->ji", a),
    "sum": lambda a: F.einsum("ij->", a),
    "ellipsis_broadcast": lambda a, b: F.einsum("...ij,...jk->...ik", a, b),
    "three_operands": lambda a, b, c: F.einsum("ij,jk,kl->il", a, b, c),
    "implicit": lambda a, b: F.einsum("ij,jk", a, b),
    "implicit_upper_first": lambda a, b: F.einsum("ab,Ab", a, b),
    "size1_broadcast": lambda a, b: F.einsum("bij,bjk->bik", a, b),
    "vector_size1": lambda a, b: F.einsum("i,i->i", a, b),
    "repeated_then_sum": lambda a: F.einsum("iij->j", a),
    "ellipsis_middle": lambda a: F.einsum("a...b->b...a", a),
    "ellipsis_summed": lambda a: F.einsum("...ij->ij", a),
    "spaces": lambda a, b: F.einsum(" ij , jk -> ik ", a, b),
    "operand_list": lambda a, b: F.einsum("ij,jk", [a, b]),
    "sublist": lambda a, b: F.einsum(a, [0, 1], b, [1, 2], [0, 2]),
    "batched_dot": lambda a, b: F.einsum("bi,bi->b", a, b),
    "scalar_operand": lambda a, b: F.einsum(",i->i", a, b),
    "four_operands": lambda a, b, c, d: F.einsum("ij,jk,kl,l->i", a, b, c, d),
    "mm": F.mm,
    "bmm": F.bmm,
    "mv": F.mv,
    "dot": F.dot,
    "outer_fn": F.outer,
    "tensordot_int": lambda a, b: F.tensordot(a, b, dims=2),
    "tensordot_lists": lambda a, b: F.tensordot(a, b, dims=([-1, 1], [0, 1])),
    "tensordot_zero": lambda a, b: F.tensordot(a, b, dims=0),
    "addmm": lambda i, a, b: F.addmm(i, a, b, beta=0.5, alpha=2.0),
    "addmm_default": F.addmm,
    "addmm_beta0": lambda i, a, b: F.addmm(i, a, b, beta=0.0),
    "baddbmm": lambda i, a, b: F.baddbmm(i, a, b, beta=-1.0, alpha=0.5),
    "kron": F.kron,
    "kron_mixed_rank": F.kron,
    "trace_fn": F.trace,
    "diagonal_fn": F.diagonal,
    "diagonal_offset_dims": lambda a: F.diagonal(a, 1, 2, 0),
    "diagonal_negative_offset": lambda a: F.diagonal(a, -2, -2, -1),
    "diag_embed": F.diag_embed,
    "diag_embed_offset_dims": lambda a: F.diag_embed(a, -1, 0, 2),
    "diag_vector": lambda a: F.diag(a, 1),
    "diag_matrix": lambda a: F.diag(a, -1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("einsum", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("einsum") == set(TORCH_CASES)


EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("bij,bjk->bik", [(1, 2, 3), (3, 3, 2)]),  # a size-1 batch broadcasts
    ("bn,anm,bm->ba", [(2, 3), (2, 3, 2), (2, 2)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->ji", [(2, 2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(1, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),
    ("...ij,...jk", [(2, 3), (4, 3, 2)]),
    ("...,...", [(2, 3), (3,)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("i...i->i", [(3, 2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 3)]),
    ("ab,cd,bc->ad", [(2, 3), (2, 2), (3, 2)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,kj->ik", [(2, 3), (1, 3)]),
    ("ii,i->i", [(1, 1), (3,)]),
    ("ij,j", [(2, 3), (3,)]),
    (",ij->j", [(), (2, 3)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
]


@pytest.mark.parametrize("equation, shapes", EQUATIONS)
def test_einsum_gradcheck(equation, shapes, rng):
    operands = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda *xs: F.einsum(equation, *xs), *operands)


# numpy refuses an output without '...' when the ellipsis covers axes (torch sums them)
@pytest.mark.parametrize("equation, shapes", [e for e in EQUATIONS if e[0] != "i...i->i"])
def test_einsum_equals_numpy(equation, shapes, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    out = F.einsum(equation, *[Tensor(a) for a in arrays])
    np.testing.assert_allclose(out.data, np.einsum(equation, *arrays), rtol=1e-12, atol=1e-12)


def test_einsum_operand_used_twice_and_frozen_operand(rng):
    x = Tensor(rng.standard_normal(3), requires_grad=True)
    F.einsum("i,i->", x, x).backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    w = Tensor(rng.standard_normal((3, 2)))
    F.einsum("i,ij->j", x, w).sum().backward()
    assert w.grad is None


def test_einsum_keeps_float32_and_is_described(rng):
    a = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = F.einsum("ij->j", a)
    assert y.dtype == np.float32
    assert y.op.describe() == "Einsum(ij->j)"


@pytest.mark.parametrize(
    "equation, shapes, message",
    [
        ("ij,jk->ik", [(2, 3)], r"einsum: the equation 'ij,jk->ik' has 2 operand term\(s\) but 1"),
        ("ij", [(2, 3, 4)], r"einsum: operand 0 has 2 subscript\(s\) in 'ij' but 3 axes \(and no "),
        ("ijk", [(2, 3)], r"einsum: operand 0 has 3 subscript\(s\)"),
        ("i1", [(2, 3)], r"einsum: invalid subscript '1' at index 1 of 'i1'"),
        ("i->i->i", [(2,)], r"einsum: invalid subscript '-' at index 4"),
        ("i..j", [(2, 3)], r"einsum: '.' at index 1 of 'i..j' is not part of an ellipsis"),
        ("......", [(2, 3)], r"einsum: operand 0 has more than one ellipsis"),
        ("ij->k", [(2, 3)], r"einsum: output subscript k of 'ij->k' appears in no operand"),
        ("ij->ii", [(2, 3)], r"einsum: output subscript i appears more than once"),
        ("ij,jk", [(2, 3), (4, 5)], r"einsum: subscript j has size 4 in operand 1 but 3 before"),
        ("ii->i", [(1, 3)], r"einsum: subscript i is repeated in operand 0 with sizes 1 and 3"),
        ("...i,...i", [(2, 3), (4, 3)],
         r"einsum: an axis of the ellipsis has size 4 in operand 1 but 2 before"),
    ],
)
def test_einsum_errors(equation, shapes, message):
    with pytest.raises(ValueError, match=message):
        F.einsum(equation, *[Tensor(np.ones(s)) for s in shapes])


def test_einsum_argument_errors():
    with pytest.raises(ValueError, match="einsum: at least one operand is needed"):
        F.einsum("i")
    with pytest.raises(ValueError, match=r"sublist subscripts must be integers in \[0, 52\)"):
        F.einsum(Tensor(np.ones(2)), [60])
    with pytest.raises(TypeError, match="expected a list of subscripts after each operand"):
        F.einsum(Tensor(np.ones(2)), 0)


PRODUCT_CASES = [
    (F.mm, [(3, 4), (4, 2)]),
    (F.bmm, [(2, 3, 4), (2, 4, 1)]),
    (F.mv, [(3, 4), (4,)]),
    (F.dot, [(4,), (4,)]),
    (F.outer, [(3,), (1,)]),
    (lambda a, b: F.tensordot(a, b, 1), [(2, 3), (3, 2)]),
    (lambda a, b: F.tensordot(a, b, [[0, 2], [2, 0]]), [(2, 3, 4), (4, 1, 2)]),
    (lambda i, a, b: F.addmm(i, a, b, beta=2, alpha=-1), [(1, 3), (2, 4), (4, 3)]),
    (lambda i, a, b: F.baddbmm(i, a, b, beta=0.5), [(3,), (2, 2, 4), (2, 4, 3)]),
    (F.kron, [(2, 1, 3), (2, 2)]),
    (F.kron, [(3,), (2,)]),
    (F.trace, [(3, 3)]),
    (F.trace, [(4, 2)]),
    (lambda a: F.diagonal(a, 0, 0, 2), [(3, 2, 3)]),
    (lambda a: F.diagonal(a, -1, 1, 0), [(4, 3, 2)]),
    (lambda a: F.diagonal(a, 5), [(3, 4)]),  # past the corner: empty
    (lambda a: F.diag_embed(a, 2), [(2, 3)]),
    (lambda a: F.diag_embed(a, 0, 1, 0), [(1, 3)]),
    (F.diag, [(4,)]),
    (lambda a: F.diag(a, 1), [(3, 3)]),
]


@pytest.mark.parametrize("fn, shapes", PRODUCT_CASES)
def test_products_and_diagonals_gradcheck(fn, shapes, rng):
    inputs = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(fn, *inputs)


def test_diag_is_both_directions_and_diag_embed_inverts_diagonal(rng):
    v = rng.standard_normal(3)
    np.testing.assert_array_equal(F.diag(Tensor(v)).data, np.diag(v))
    np.testing.assert_array_equal(F.diag(Tensor(v), -2).data, np.diag(v, -2))
    m = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(F.diag(Tensor(m), 1).data, np.diag(m, 1))
    x = rng.standard_normal((2, 4, 3))
    embedded = F.diag_embed(Tensor(x), 1, 0, 3)
    assert embedded.shape == (4, 2, 4, 4)
    np.testing.assert_array_equal(F.diagonal(embedded, 1, 0, 3).data, x)


def test_tensor_methods(rng):
    a = Tensor(rng.standard_normal((3, 3)))
    b = Tensor(rng.standard_normal((2, 3, 3)))
    v = Tensor(rng.standard_normal(3))
    np.testing.assert_allclose(a.mm(a).data, a.data @ a.data)
    np.testing.assert_allclose(b.bmm(b).data, b.data @ b.data)
    np.testing.assert_allclose(a.mv(v).data, a.data @ v.data)
    np.testing.assert_allclose(v.dot(v).data, v.data @ v.data)
    np.testing.assert_allclose(v.outer(v).data, np.outer(v.data, v.data))
    np.testing.assert_allclose(a.trace().data, np.trace(a.data))
    np.testing.assert_allclose(b.diagonal(1, 1, 2).data, np.diagonal(b.data, 1, 1, 2))
    np.testing.assert_allclose(a.det().data, np.linalg.det(a.data))
    np.testing.assert_allclose(a.inverse().data, np.linalg.inv(a.data))


@pytest.mark.parametrize(
    "fn, shapes, message",
    [
        (F.mm, [(2, 3), (4, 5)], r"mm: shapes \(2, 3\) and \(4, 5\) cannot be multiplied"),
        (F.mm, [(2, 3, 3), (3, 5)], r"mm: expected input to be 2-D, got shape \(2, 3, 3\)"),
        (F.bmm, [(2, 3), (3, 5)], r"bmm: expected input to be 3-D, got shape \(2, 3\)"),
        (F.bmm, [(2, 2, 3), (3, 3, 5)], r"bmm: expected input \(b, n, m\) and mat2 \(b, m, p\)"),
        (F.mv, [(2, 3), (4,)], r"mv: shapes \(2, 3\) and \(4,\) cannot be multiplied"),
        (F.mv, [(2, 3), (3, 1)], r"mv: expected vec to be 1-D"),
        (F.dot, [(2,), (3,)], r"dot: expected two vectors of one length, got \(2,\) and \(3,\)"),
        (F.dot, [(2, 2), (2, 2)], r"dot: expected input to be 1-D"),
        (F.outer, [(2, 2), (2,)], r"outer: expected input to be 1-D"),
        (lambda a, b: F.tensordot(a, b, ([1], [1])), [(2, 3, 4), (3, 4, 5)],
         r"tensordot: contracted axes must match, got size 3 \(axis 1 of \(2, 3, 4\)\)"),
        (lambda a, b: F.tensordot(a, b, 3), [(2, 3), (3, 4)],
         r"tensordot: dims \(3\) must lie in \[0, 2\]"),
        (lambda a, b: F.tensordot(a, b, ([0, 1], [0])), [(2, 3), (2, 3)],
         r"tensordot: a and b need as many contracted axes"),
        (lambda i, a, b: F.addmm(i, a, b), [(4, 3), (2, 4), (4, 3)],
         r"addmm: input of shape \(4, 3\) does not broadcast to the product's shape \(2, 3\)"),
        (F.trace, [(2, 3, 3)], r"trace: expected a 2-D tensor, got shape \(2, 3, 3\)"),
        (lambda a: F.diagonal(a, 0, 1, 1), [(2, 3)],
         r"diagonal: dim1 and dim2 must be different axes, got 1 and 1"),
        (lambda a: F.diagonal(a, 0, 0, 2), [(2, 3)], r"diagonal: dim 2 is out of range"),
        # torch checks dim2 = 1 against one axis first: its IndexError
        (F.diagonal, [(3,)], r"diagonal: dim 1 is out of range for a tensor with 1 axes"),
        (F.diag, [(2, 2, 2)], r"diag: expected a 1-D or 2-D tensor, got shape \(2, 2, 2\)"),
        (F.diag_embed, [()], r"diag_embed: expected at least 1 axis"),
    ],
)
def test_product_errors(fn, shapes, message):
    with pytest.raises(ValueError, match=message):
        fn(*[Tensor(np.ones(s)) for s in shapes])


def test_product_type_errors():
    x = Tensor(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"addmm: beta must be a number \(complex ones for "
                                        r"complex tensors only\), got '1'"):
        F.addmm(x, x, x, beta="1")
    with pytest.raises(TypeError, match="tensordot: dims must be an int or two lists of axes"):
        F.tensordot(x, x, "ij")
    with pytest.raises(TypeError, match="diagonal: offset must be an int, got 1.0"):
        F.diagonal(x, 1.0)
    with pytest.raises(TypeError):  # beta and alpha are keyword-only, as torch's
        F.addmm(x, x, x, 0.5, 2)


def test_result_changed_in_place_keeps_the_gradient():
    """backward reads the other operands, never the result (torch saves no output): y += b on
    einsum's result is allowed, and a change of an operand that is read is still refused."""
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = Tensor(np.arange(12.0).reshape(3, 4) / 10, requires_grad=True)
    y = F.einsum("ij,jk->ik", a, w)
    y += 1.0
    y.sum().backward()
    np.testing.assert_allclose(a.grad.data, np.ones((2, 4)) @ w.data.T)
    np.testing.assert_allclose(w.grad.data, a.data.T @ np.ones((2, 4)))
    b = Tensor(np.ones((2, 3)))  # needs no grad: read for w's gradient only
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    z = F.einsum("ij,jk->ik", b, x)
    b.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified"):
        z.sum().backward()
