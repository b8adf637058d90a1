"""Every op family keeps its settings through backward(): the graph is drawable and valid after
it (free() drops only the arrays saved for backward)."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, graph, nn
from dlpy.ops.attention import packed_attention

rng = np.random.default_rng(0)


def _p(*shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def _attention():
    q, k, v = _p(2, 4, 8), _p(2, 4, 8), _p(2, 4, 8)
    mask = np.triu(np.ones((4, 4), bool), 1)
    return F.scaled_dot_product_attention(q, k, v, mask=mask).sum()


def _attention_module():
    torch_like = nn.MultiHeadAttention(8, 2, dropout=0.1, rng=np.random.default_rng(1),
                                       dtype=np.float64)
    x = _p(2, 3, 8)
    return torch_like(x, x, x).sum() + packed_attention(_p(2, 3, 24), 2).sum()


FAMILIES = {
    "arithmetic": lambda: ((_p(3) + 1) * _p(3) / 2 - _p(3) ** 2).exp().log().abs().sqrt().sum()
    + (-_p(3)).sum(),
    "activation": lambda: (F.relu(_p(3, 2)) + F.sigmoid(_p(3, 2)) + F.tanh(_p(3, 2))
                           + F.gelu(_p(3, 2))).sum(),
    "matmul": lambda: (F.matmul(_p(2, 3), _p(3, 4)) + F.linear(_p(2, 3), _p(4, 3), _p(4))).sum(),
    "reduce": lambda: _p(2, 3).sum(axis=0).mean() + _p(2, 3).amax(axis=1).sum(),
    "shape": lambda: (F.concat([_p(2, 3), _p(1, 3)], axis=0).reshape(9).view(3, 3).T[1:, :2]
                      .transpose(1, 0).sum() + F.stack([_p(2), _p(2)], axis=1).sum()
                      + F.swapaxes(_p(2, 3), 0, 1).sum()),
    "softmax": lambda: (F.softmax(_p(2, 3), dim=0) * F.log_softmax(_p(2, 3), -1)).sum(),
    "norm": lambda: F.layer_norm(_p(2, 4), _p(4), _p(4)).sum(),
    "loss": lambda: F.cross_entropy(_p(4, 3), [0, 1, 2, 0]) + F.mse_loss(_p(3), np.ones(3))
    + F.l1_loss(_p(3), np.zeros(3)) + F.binary_cross_entropy_with_logits(_p(3), np.ones(3)),
    "embedding": lambda: F.embedding(np.array([[0, 2], [1, 1]]), _p(3, 4)).sum(),
    "mask": lambda: (F.where(np.array([True, False]), _p(2), _p(2))
                     + F.masked_fill(_p(2), np.array([False, True]), 0.0)
                     + F.dropout(_p(2), 0.5, rng=np.random.default_rng(0))).sum(),
    "conv": lambda: F.max_pool2d(F.conv2d(_p(1, 2, 5, 5), _p(3, 2, 3, 3), _p(3), padding=1),
                                 2).sum(),
    "attention": _attention,
    "attention module": _attention_module,
    "cast": lambda: _p(3).astype(np.float32).to(np.float64).sum(),
    "encoder": lambda: nn.TransformerEncoder(
        dict(d_model=8, num_heads=2, dim_feedforward=16, dropout=0.1, dtype=np.float64), 2,
        norm=True)(_p(2, 3, 8)).sum(),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_graph_is_drawable_and_valid_after_backward(family):
    loss = FAMILIES[family]()
    before = graph.to_dot(loss)
    loss.backward()
    after = graph.to_dot(loss)  # used to raise AttributeError for ops whose settings were freed
    assert after == before
    graph.validate(loss)


def test_free_drops_only_the_saved_arrays():
    x = _p(2, 3)
    y = F.softmax(x, dim=0)
    op = y.op
    assert hasattr(op, "y")  # saved for backward
    y.sum().backward()
    assert op.freed and op.axis == 0 and not hasattr(op, "y")
    with pytest.raises(RuntimeError, match="already freed"):
        y.sum().backward()


def test_attention_settings_survive_backward():
    q = _p(1, 3, 4)
    out = dlpy.functional.scaled_dot_product_attention(q, q, q)
    out.sum().backward()
    assert out.op.scale == pytest.approx(0.5) and out.op.describe() == "Attention"


def test_an_op_freed_twice_keeps_its_settings():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = F.softmax(x, dim=1)
    op = y.op
    (y * y).sum().backward()
    op.free()  # a second time: the settings stay, the saved output is gone
    assert op.freed and op.axis == 1
    assert "y" not in op.__dict__ and op.inputs == (x,)


def test_an_op_that_saved_no_array_is_not_freed():
    # sum keeps only its input's shape: torch saves no tensor for it, so a second backward
    # through it is allowed
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = F.sum(x, axis=1).sum()
    y.backward()
    y.backward()
    assert not y.op.freed and y.op.inputs[0].op.shape == (2, 3)
    np.testing.assert_allclose(x.grad, 2 * np.ones((2, 3)))
