"""dlpy.nested (torch.nested, jagged layout) against torch (fixtures/masked_nested/nested.npz,
made by make_masked_nested_fixtures.py): values and gradients of every case; central
differences (also where torch has no backward); views with holes against dense slicing; a
Transformer-encoder block on variable-length sequences against its padded + masked twin; the
errors."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cases_masked_nested import NESTED_CASES

import dlpy
import dlpy.nested
from dlpy import functional as F
from dlpy import nn
from dlpy.nested import NestedTensor
from dlpy.testing import assert_close, gradcheck

JAGGED = dlpy.nested.jagged  # these tests are of the jagged layout (not the default)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "masked_nested" / "nested.npz"
LIB = SimpleNamespace(nested=dlpy.nested, F=F, cat=dlpy.cat,
                      layer_norm=lambda x, w, b: F.layer_norm(x, w, b))


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _run(case, arrays):
    lengths, _, dense_shapes, fn = NESTED_CASES[case]
    components = [dlpy.tensor(arrays[f"c{i}"], requires_grad=True) for i in range(len(lengths))]
    dense = [dlpy.tensor(arrays[f"d{k}"], requires_grad=True) for k in range(len(dense_shapes))]
    out = fn(LIB, dlpy.nested.as_nested_tensor(components, layout=JAGGED), *dense)
    if isinstance(out, NestedTensor):
        out = dlpy.nested.to_padded_tensor(out, 0.0)
    return out, components, dense


@pytest.mark.parametrize("case", NESTED_CASES)
def test_against_torch(ref, case):
    arrays = {key.split(":", 1)[1]: value for key, value in ref.items()
              if key.startswith(case + ":")}
    out, components, dense = _run(case, arrays)
    assert isinstance(out, dlpy.Tensor)
    assert_close(out.data, arrays["out"], rtol=1e-12, atol=1e-12)
    out.backward(arrays["grad_out"])
    if "gc0" not in arrays:  # torch has no backward for it: test_gradcheck below
        return
    for name, leaves in (("gc", components), ("gd", dense)):
        for i, leaf in enumerate(leaves):
            grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
            assert_close(grad, arrays[f"{name}{i}"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["log_softmax_last", "softmax_ragged", "sum_ragged",
                                  "mean_ragged", "sum_last", "attention", "layer_norm"])
def test_gradcheck(case):
    lengths, inner, dense_shapes, fn = NESTED_CASES[case]
    rng = np.random.default_rng(5)
    n = len(lengths)
    leaves = [dlpy.tensor(rng.standard_normal((k,) + inner), requires_grad=True)
              for k in lengths] + [dlpy.tensor(rng.standard_normal(s), requires_grad=True)
                                   for s in dense_shapes]

    def function(*leaves):
        out = fn(LIB, dlpy.nested.as_nested_tensor(list(leaves[:n]), layout=JAGGED), *leaves[n:])
        return dlpy.nested.to_padded_tensor(out, 0.0) if isinstance(out, NestedTensor) else out

    assert gradcheck(function, *leaves)


# ----------------------------------------------------------------- structure
def test_parts_and_constructors():
    a, b = np.ones((2, 3)), np.zeros((4, 3))
    nt = dlpy.nested.nested_tensor([a, b], requires_grad=True, layout=JAGGED)
    assert nt.shape == (2, None, 3) and nt.dim() == 3 and nt.is_nested and len(nt) == 2
    assert nt.is_leaf and nt.requires_grad and nt.layout is dlpy.nested.jagged
    assert nt.offsets().data.tolist() == [0, 2, 6] and nt.lengths() is None
    assert nt.values().shape == (6, 3) and nt.size(2) == 3
    assert [t.shape for t in nt.unbind()] == [(2, 3), (4, 3)]
    (nt * 2.0).sum().backward()
    assert isinstance(nt.grad, NestedTensor)
    assert_close(nt.grad.values(), np.full((6, 3), 2.0))
    dense = dlpy.tensor(np.arange(24.0).reshape(2, 4, 3), requires_grad=True)
    from_dense = dlpy.nested.as_nested_tensor(dense, layout=JAGGED)
    assert from_dense.offsets().data.tolist() == [0, 4, 8]
    assert dlpy.nested.as_nested_tensor(from_dense, layout=JAGGED) is from_dense
    from_dense.sum(1).sum().backward()
    assert_close(dense.grad, np.ones((2, 4, 3)))
    values = dlpy.tensor(np.arange(10.0).reshape(5, 2))
    jagged = dlpy.nested.nested_tensor_from_jagged(values, lengths=np.array([2, 0, 3]))
    assert jagged.offsets().data.tolist() == [0, 2, 2, 5]
    assert [t.shape for t in jagged.unbind()] == [(2, 2), (0, 2), (3, 2)]


def test_views_with_holes_match_dense_slicing():
    # narrow: sequence i = x[i, start[i] : start[i] + length[i]]; a view, gradients reach x
    rng = np.random.default_rng(0)
    x = dlpy.tensor(rng.standard_normal((3, 6, 4)), requires_grad=True)
    start, length = np.array([1, 0, 3]), np.array([3, 6, 2])
    nt = dlpy.nested.narrow(x, 1, start, length, layout=JAGGED)
    assert nt.lengths().data.tolist() == [3, 6, 2]
    parts = [x.data[i, s:s + n] for i, (s, n) in enumerate(zip(start, length))]
    for got, want in zip(nt.unbind(), parts):
        assert_close(got, want)
    padded = dlpy.nested.to_padded_tensor(nt, -1.0)
    assert padded.shape == (3, 6, 4)
    w = dlpy.tensor(rng.standard_normal((4, 4)))
    q = F.linear(nt, w).unflatten(-1, (2, 2)).transpose(1, 2)
    attention = F.scaled_dot_product_attention(q, q, q).transpose(1, 2).flatten(-2, -1)
    total = attention.sum(1).sum() + nt.softmax(1).mean(1).sum() + nt.sum()
    total.backward()
    grad = x.grad.numpy()
    x.grad = None
    expected = 0.0
    for i in range(len(parts)):
        p = x[i, int(start[i]):int(start[i] + length[i])]  # (n, 4)
        h = F.linear(p, w).reshape((int(length[i]), 2, 2)).transpose(0, 1)  # (2, n, 2)
        a = F.scaled_dot_product_attention(h, h, h).transpose(0, 1).reshape((-1, 4))
        expected = expected + a.sum() + F.softmax(p, 0).mean(0).sum() + p.sum()
    assert_close(total, expected.data)
    expected.backward()
    assert_close(grad, x.grad)
    assert (grad[0, 4:] == 0).all() and (grad[2, :3] == 0).all()  # outside the views


def test_dense_operand_per_sequence_and_reflected():
    nt = dlpy.nested.nested_tensor([np.ones((2, 3)), np.ones((1, 3))], layout=JAGGED)
    scale = dlpy.tensor(np.array([[[2.0, 2.0, 2.0]], [[5.0, 5.0, 5.0]]]))
    assert_close((scale * nt).values(), np.array([[2.0] * 3, [2.0] * 3, [5.0] * 3]))
    assert_close((1.0 - nt).values(), np.zeros((3, 3)))
    assert_close((dlpy.tensor([1.0, 2.0, 3.0]) + nt).values(), np.tile([2.0, 3.0, 4.0], (3, 1)))


def test_padded_output_size_and_transposed_padding():
    # (B, j, H, D)
    nt = dlpy.nested.nested_tensor([np.ones((2, 2, 3)), np.ones((1, 2, 3))], layout=JAGGED)
    padded = dlpy.nested.to_padded_tensor(nt.transpose(1, 2), 0.0)
    assert padded.shape == (2, 2, 2, 3) and padded.data[1, :, 1].sum() == 0
    wide = nt.to_padded_tensor(-1.0, output_size=(2, 3, 2, 4))
    assert wide.shape == (2, 3, 2, 4) and wide.data[0, :2, :, :3].min() == 1.0
    assert wide.data[0, :, :, 3].max() == -1.0 and wide.data[1, 1:].max() == -1.0


def test_causal_attention_cross_lengths_and_dropout():
    # is_causal and a key / value structure other than the query's: each sequence alone
    rng = np.random.default_rng(2)
    q_parts = [rng.standard_normal((n, 2, 3)) for n in (4, 2)]
    kv_parts = [rng.standard_normal((n, 2, 3)) for n in (5, 3)]
    q = dlpy.nested.nested_tensor(q_parts, layout=JAGGED).transpose(1, 2)
    kv = dlpy.nested.nested_tensor(kv_parts, layout=JAGGED).transpose(1, 2)
    for causal in (False, True):
        out = F.scaled_dot_product_attention(q, kv, kv, is_causal=causal).transpose(1, 2)
        for got, qi, ki in zip(out.unbind(), q_parts, kv_parts):
            qh, kh = (dlpy.tensor(a).transpose(0, 1) for a in (qi, ki))
            want = F.scaled_dot_product_attention(qh, kh, kh, is_causal=causal)
            assert_close(got, want.transpose(0, 1))
    nt = dlpy.nested.nested_tensor(q_parts, layout=JAGGED)
    assert_close(F.dropout(nt, 0.5, training=False).values(), nt.values())
    dropped = F.dropout(nt, 0.5, training=True).values().data
    assert set(np.unique(np.round(dropped / nt.values().data, 12))) <= {0.0, 2.0}
    assert nt.to(dlpy.float32).dtype == np.float32


# ----------------------------------------------------------------- a Transformer block
class EncoderBlock(nn.Module):
    """Post-norm self-attention + feed-forward; x (B, j, d) nested or (B, L, d) dense."""

    def __init__(self, d_model=8, num_heads=2, d_ff=16, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, rng=rng, dtype=np.float64)
        self.out = nn.Linear(d_model, d_model, rng=rng, dtype=np.float64)
        self.ff1 = nn.Linear(d_model, d_ff, rng=rng, dtype=np.float64)
        self.ff2 = nn.Linear(d_ff, d_model, rng=rng, dtype=np.float64)
        self.norm1 = nn.LayerNorm(d_model, dtype=np.float64)
        self.norm2 = nn.LayerNorm(d_model, dtype=np.float64)

    def forward(self, x, key_padding=None):
        """key_padding (B, L) boolean, True at padding, for the dense form."""
        d = self.qkv.in_features
        q, k, v = (F.linear(x, self.qkv.weight[i * d:(i + 1) * d],
                            self.qkv.bias[i * d:(i + 1) * d])
                   .unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for i in range(3))
        mask = None if key_padding is None else key_padding[:, None, None, :]
        a = F.scaled_dot_product_attention(q, k, v, mask=mask)  # (B, H, j, d / H)
        x = self.norm1(x + self.out(a.transpose(1, 2).flatten(-2, -1)))
        return self.norm2(x + self.ff2(F.relu(self.ff1(x))))


def test_transformer_block_nested_equals_padded_and_masked():
    rng = np.random.default_rng(1)
    lengths, d = [5, 2, 7, 1], 8
    sequences = [rng.standard_normal((n, d)) for n in lengths]
    targets = [rng.standard_normal(d) for _ in lengths]
    block = EncoderBlock(d)

    def nested_loss(parts):
        # (B, d): mean over each sequence
        y = block(dlpy.nested.as_nested_tensor(parts, layout=JAGGED)).mean(1)
        return ((y - dlpy.tensor(np.stack(targets))) ** 2).sum()

    parts = [dlpy.tensor(s, requires_grad=True) for s in sequences]
    loss = nested_loss(parts)
    loss.backward()
    nested_grads = {name: p.grad.numpy().copy() for name, p in block.named_parameters()}
    nested_input_grads = [p.grad.numpy().copy() for p in parts]

    block.zero_grad()
    longest = max(lengths)
    padded = dlpy.tensor(np.stack([np.pad(s, ((0, longest - len(s)), (0, 0)))
                                   for s in sequences]), requires_grad=True)
    padding = np.arange(longest)[None, :] >= np.array(lengths)[:, None]  # True: padding
    y = block(padded, key_padding=padding)
    keep = (~padding)[..., None] / np.array(lengths, float)[:, None, None]
    dense_loss = (((y * keep).sum(1) - dlpy.tensor(np.stack(targets))) ** 2).sum()
    assert_close(loss, dense_loss.data, rtol=1e-12, atol=1e-12)
    dense_loss.backward()
    for name, p in block.named_parameters():
        assert_close(nested_grads[name], p.grad, rtol=1e-9, atol=1e-12, msg=name)
    for i, n in enumerate(lengths):
        assert_close(nested_input_grads[i], padded.grad[i, :n], rtol=1e-9, atol=1e-12)
    assert (padded.grad.numpy()[0, 5:] == 0).all()

    # and it learns: twenty Adam steps on the nested form lower the loss
    optimizer = dlpy.optim.Adam(block.parameters(), lr=0.01)
    first = None
    for _ in range(20):
        optimizer.zero_grad()
        step_loss = nested_loss([dlpy.tensor(s) for s in sequences])
        step_loss.backward()
        optimizer.step()
        first = float(step_loss.data) if first is None else first
    assert float(nested_loss([dlpy.tensor(s) for s in sequences]).data) < 0.5 * first


# ----------------------------------------------------------------- errors
def test_errors():
    nt = dlpy.nested.nested_tensor([np.ones((2, 3)), np.ones((1, 3))], layout=JAGGED)
    other = dlpy.nested.nested_tensor([np.ones((1, 3)), np.ones((2, 3))],
                                     layout=JAGGED)
    with pytest.raises(ValueError, match="add: nested tensors of different structure"):
        nt + other
    with pytest.raises(ValueError, match=r"mul: a dense operand of shape \(2,\) does not "
                                         r"broadcast to the nested tensor"):
        nt * dlpy.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="nested_tensor: the components must have at least one "
                                         "dim and equal dims after the first"):
        dlpy.nested.nested_tensor([np.ones((2, 3)), np.ones((2, 4))], layout=JAGGED)
    with pytest.raises(ValueError, match="nested_tensor: Specified layout is unsupported"):
        dlpy.nested.nested_tensor([np.ones((2, 3))], layout=dlpy.sparse_coo)
    with pytest.raises(ValueError, match="nested_tensor_from_jagged: offsets must be "
                                         "non-decreasing"):
        dlpy.nested.nested_tensor_from_jagged(dlpy.tensor(np.ones((4, 2))), np.array([0, 3, 2]))
    with pytest.raises(TypeError, match="nested_tensor_from_jagged: offsets must be a 1-D "
                                        "integer tensor"):
        dlpy.nested.nested_tensor_from_jagged(dlpy.tensor(np.ones((4, 2))), np.array([0.0, 4.0]))
    with pytest.raises(ValueError, match="narrow: start .* must stay inside dim 1"):
        dlpy.nested.narrow(dlpy.tensor(np.ones((2, 3))), 1, 2, 2, layout=JAGGED)
    with pytest.raises(NotImplementedError, match="sum: not supported on the batch dim"):
        nt.sum(0)
    with pytest.raises(NotImplementedError, match="cat: not supported on the ragged dim"):
        dlpy.cat([nt, nt], 1)
    with pytest.raises(NotImplementedError, match="linear: not supported on the ragged dim"):
        F.linear(nt.transpose(1, 2), dlpy.tensor(np.ones((2, 2))))
    with pytest.raises(NotImplementedError, match="conv1d: not supported on a nested tensor"):
        NestedTensor.__dlpy_function__("conv1d", nt)
    with pytest.raises(TypeError, match="expected a dense tensor, got a nested tensor"):
        F.sum(nt)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: expected nested \(B, "
                                         r"H, j, D\) operands with the ragged dim 2"):
        F.scaled_dot_product_attention(nt, nt, nt)
    q = nt.unflatten(-1, (1, 3)).transpose(1, 2)
    with pytest.raises(NotImplementedError, match="scaled_dot_product_attention: a mask"):
        F.scaled_dot_product_attention(q, q, q, np.ones((2, 1, 2, 2), bool))
    with pytest.raises(ValueError, match="size: dim 1 is the ragged dim"):
        nt.size(1)
    with pytest.raises(ValueError, match=r"to_padded_tensor: output_size \(2, 1, 3\) must have"):
        dlpy.nested.to_padded_tensor(nt, 0.0, (2, 1, 3))
