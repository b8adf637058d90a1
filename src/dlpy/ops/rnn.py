"""Fused recurrent ops: a whole layer's sequence in one op (LSTMSequence, GRUSequence,
RNNSequence, PyTorch's formulas), and one step of each (LSTMCell, GRUCell, RNNCell).

A sequence op takes the input's projection of every step at once, x_proj = x W_ih^T + b_ih
(L, N, gates * H), the initial state and W_hh (b_hh, and W_hr for an LSTM with projections);
it loops over the steps in numpy, so the engine records one node a layer instead of ~15 a step.
Backward runs back through time in one loop; W_hh's (and W_hr's) gradient is one matmul over all
steps at the end. The output is the state after every step, (L, N, S): h (S = H) for GRU / RNN,
h and c side by side (S = P + H, P the size of h) for LSTM, so h_n and c_n are its slices at the
last step taken and the engine needs no op with several outputs.

``lengths`` (N,): sequence b runs lengths[b] steps, then keeps its state (a padded, packed
batch); ``reverse``: the steps run from L - 1 down to 0.
"""

from __future__ import annotations

import numpy as np

from dlpy.amp.dtypes import float32_compute
from dlpy.layouts import iterator_layout
from dlpy.ops import ArgError, ArgIndexError
from dlpy.ops.arithmetic import identity
from dlpy.ops.mask import where
from dlpy.ops.shape import concat, stack
from dlpy.tensor import Op, is_grad_enabled

# LSTMSequence adds x_proj's step in the loop from this many values a step (batch * 4H) on
_INLINE_X = 16384


@float32_compute  # float16/bfloat16 arrays: float32 steps, rounded states out
class _Recurrence(Op):
    """The time loop shared by GRU and RNN (LSTM has its own, on transposed arrays); a subclass
    gives one step (``_step``) and its backward (``_step_backward``) on numpy arrays."""

    num_states = 1  # initial states taken as inputs (LSTM: h0 and c0; _graph_sequence)
    # the step uses x_t + h_proj alone (LSTM, RNN): b_hh is added to x_proj once, and x_proj's
    # gradient is h_proj's
    additive = True

    def __init__(self, reverse: bool = False, lengths=None, bias: bool = True,
                 proj: bool = False):
        self.reverse, self.bias, self.proj = reverse, bias, proj
        self.lengths = None if lengths is None else np.asarray(lengths)

    def forward(self, x_proj, state0, w_hh, *rest):
        # x_proj (L, N, G); the initial state (N, H); W_hh (G, H) [, b_hh (G,)]
        self.w_hh = w_hh
        self.b_hh = rest[0] if self.bias else None
        seq_len = x_proj.shape[0]
        self.x_shape = x_proj.shape
        b_hh = self.b_hh
        if b_hh is not None and self.additive:
            x_proj, b_hh = x_proj + b_hh, None
        w_t = np.ascontiguousarray(self.w_hh.T)  # h @ w_hh.T takes numpy's slow path (3x)
        dtype = np.result_type(x_proj, state0, w_t)
        # every step writes into arrays made once a call (the states, the step's saved values,
        # one scratch h_proj): fresh arrays each step cost more in page faults than in compute
        states = np.empty((seq_len, *state0.shape), dtype)
        self.state0, self.states = state0, states
        self._allocate(seq_len, x_proj.shape[1:], dtype)
        h_proj = np.empty((state0.shape[0], w_t.shape[1]), dtype)  # (N, G)
        self.running = [None] * seq_len
        shortest = seq_len if self.lengths is None else int(self.lengths.min())
        state = state0
        for t in self._order(seq_len):
            np.matmul(state, w_t, out=h_proj)
            if b_hh is not None:
                h_proj += b_hh
            self._step(t, x_proj[t], h_proj, state, states[t])
            if t >= shortest:  # past its end a sequence keeps its state
                self.running[t] = running = (t < self.lengths)[:, None]  # (N, 1)
                np.copyto(states[t], state, where=~running)
            state = states[t]
        return states

    def _allocate(self, seq_len: int, step_shape, dtype) -> None:
        """Make the arrays the steps save into, for all seq_len steps of (N, G) step_shape."""

    def _order(self, seq_len: int) -> range:
        return range(seq_len - 1, -1, -1) if self.reverse else range(seq_len)

    def _before(self, t: int) -> np.ndarray:
        """The state step t started from, (N, S)."""
        t_prev = t + 1 if self.reverse else t - 1
        return self.state0 if t_prev < 0 or t_prev >= len(self.states) else self.states[t_prev]

    def backward(self, grad_output):  # (L, N, S)
        seq_len, width = self.x_shape[0], self.w_hh.shape[1]
        grad_x = np.empty(self.x_shape, dtype=self.states.dtype)
        grad_h_proj = grad_x if self.additive else np.empty_like(grad_x)
        # two state-gradient buffers, swapped each step: the step reads one, writes the other
        grad_state, grad_prev = np.zeros_like(self.states[0]), np.empty_like(self.states[0])
        for t in reversed(self._order(seq_len)):
            grad_state += grad_output[t]
            running = self.running[t]
            grad_new = grad_state if running is None else np.where(running, grad_state, 0)
            grad_h_proj_t = self._step_backward(t, grad_new, grad_x[t], grad_prev)
            if not self.additive:
                grad_h_proj[t] = grad_h_proj_t
            if running is not None:  # a finished sequence's state passes through unchanged
                np.add(grad_prev, grad_state, out=grad_prev, where=~running)
            grad_state, grad_prev = grad_prev, grad_state
        gates = grad_h_proj.shape[-1]
        grads = [grad_x, grad_state]
        # W_hh's gradient: sum over steps of grad_h_proj[t]^T h_before(t), the states before
        # the steps being states[:-1] and state0 (forward) or states[1:] and state0 (reverse),
        # as two matmuls on views instead of a concatenated copy of the states
        first, rest = (seq_len - 1, slice(0, -1)) if self.reverse else (0, slice(1, None))
        previous = slice(1, None) if self.reverse else slice(0, -1)
        grad_w = grad_h_proj[first].T @ self.state0
        if seq_len > 1:
            grad_w += (grad_h_proj[rest].reshape(-1, gates).T
                       @ self.states[previous].reshape(-1, width))
        grads.append(grad_w)
        if self.bias:
            grads.append(grad_h_proj.sum(axis=(0, 1)))
        return tuple(grads)

    def backward_graph(self, grad_output, output):
        # The simplest correct route: the sequence again with the cell's formulas as dlpy ops
        # (a Python loop over time, about 15 recorded ops a step), differentiated by
        # autograd.grad with create_graph. The inputs go in through identity stand-ins, so
        # only the paths through this op count (not one through an input that another input
        # was computed from).
        from dlpy.autograd import grad

        inputs = [identity(t) if t.requires_grad else t for t in self.inputs]
        wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
        states = self._graph_sequence(*inputs)
        grads = grad(states, [inputs[i] for i in wanted], grad_outputs=grad_output,
                     create_graph=True, allow_unused=True)
        result: list = [None] * len(inputs)
        for i, g in zip(wanted, grads):
            result[i] = g
        return tuple(result)

    def _graph_sequence(self, x_proj, *inputs):
        """forward with dlpy ops (recorded): x_proj (L, N, G) and the op's other inputs ->
        the states (L, N, S)."""
        k = self.num_states
        states, w_hh = list(inputs[:k]), inputs[k]
        b_hh = inputs[k + 1] if self.bias else None
        w_hr = inputs[-1] if self.proj else None
        seq_len = x_proj.shape[0]
        shortest = seq_len if self.lengths is None else int(self.lengths.min())
        outputs = [None] * seq_len
        for t in self._order(seq_len):
            h_proj = states[0] @ w_hh.T
            if b_hh is not None:
                h_proj = h_proj + b_hh
            new = self._graph_step(x_proj[t], h_proj, states, w_hr)
            if t >= shortest:  # past its end a sequence keeps its state
                running = (t < self.lengths)[:, None]
                new = [where(running, a, b) for a, b in zip(new, states)]
            states = new
            outputs[t] = states[0] if k == 1 else concat(states, 1)
        return stack(outputs)


class LSTMSequence(_Recurrence):
    """Gates i, f, g, o = split(x_proj + h W_hh^T + b_hh): c = sigmoid(f) c + sigmoid(i) tanh(g),
    h = sigmoid(o) tanh(c) [W_hr^T with projections]. State [h | c], (N, P + H).

    The four gates in one tanh: act = s tanh(s pre) + 1 - s, s = 1/2 for a sigmoid's gate and
    1 for g (sigmoid(x) = (1 + tanh(x / 2)) / 2); W_hh, b_hh and x_proj are scaled by s once
    (exactly: s is a power of two; large layers scale a step's sum instead). Everything in the
    loop is transposed, (features, N), the gates reordered o, i, f, g: a step's matmul
    [W_hh | b_hh] [h; 1] writes the gates (4H, N) straight into the step's buffer, so the gate
    arithmetic touches only contiguous arrays (numpy's ufuncs on column slices of (N, 4H) cost
    ~3x) and the sigmoids are one block. Each step's buffer holds [o, i, f, g, c_prev] (5H, N), so
    c = i g + f c_prev is one product of [i, f] and [g, c_prev] and one add. Backward
    precomputes, for all steps at once, what does not depend on the gradient flowing back
    (each gate's derivative times the value it multiplies) and writes x_proj's gradient
    transposed, turned over once at the end.
    """

    num_states = 2
    gate_order = (3, 0, 1, 2)  # the loop's gate k is PyTorch's gate gate_order[k]: o, i, f, g

    def __init__(self, reverse: bool = False, lengths=None, bias: bool = True,
                 proj: bool = False, keep: bool = True):
        # keep=False: no backward will run (nothing recorded), so large layers need not keep
        # every step's gates
        super().__init__(reverse, lengths, bias, proj)
        self.keep = keep

    def forward(self, x_proj, h0, c0, w_hh, *rest):
        # x_proj (L, N, 4H); h0 (N, P), c0 (N, H); W_hh (4H, P) [, b_hh (4H,)] [, W_hr (P, H)]
        self.w_hh = w_hh
        b_hh = rest[0] if self.bias else None
        self.w_hr = w_hr = rest[-1] if self.proj else None
        seq_len, batch, gates = self.x_shape = x_proj.shape
        hidden, width = gates // 4, w_hh.shape[1]
        dtype = np.result_type(x_proj, h0, c0, w_hh, *rest)
        half = dtype.type(0.5)
        # W_hh s (4H, P) and x_proj s transposed (L, 4H, N), the gates reordered: a step's
        # matmul W_hh h^T then writes the (4H, N) gates whose blocks are contiguous. b_hh s is
        # W_hh s's last column against a row of ones under h (the matmul adds it; a transposed
        # copy with a broadcast add costs 1.6x a plain one). From _INLINE_X values a step on,
        # x_proj[t]'s blocks are added transposed in the loop instead (4 adds and a scaling a
        # step: cheaper there than one bulk transposed copy, whose strides leave the caches)
        bias = int(b_hh is not None)
        inline = batch * gates >= _INLINE_X
        x_gates = None if inline else np.empty((seq_len, gates, batch), dtype)
        w_scaled = np.empty((gates, width + bias), dtype)
        blocks = []  # (rows of the loop's gates, PyTorch's columns of x_proj)
        for k, gate in enumerate(self.gate_order):
            rows, source = slice(k * hidden, (k + 1) * hidden), slice(gate * hidden,
                                                                      (gate + 1) * hidden)
            blocks.append((rows, source))
            scale = half if k < 3 and not inline else dtype.type(1)
            if not inline:
                np.multiply(x_proj[:, :, source].transpose(0, 2, 1), scale,
                            out=x_gates[:, rows])
            np.multiply(w_hh[source], scale, out=w_scaled[rows, :width])
            if bias:
                np.multiply(b_hh[source], scale, out=w_scaled[rows, width])
        # acts[p]: the step in position p's [o, i, f, g] and the c it started from;
        # acts[p + 1, 4H:] is its c. h_steps[t]: h after step t, transposed (P, N) [and ones].
        # Without a backward, large layers take turns with two step buffers and copy c out
        # (fresh pages for every step's buffer cost more)
        rolling = inline and not self.keep
        acts = np.empty((2 if rolling else seq_len + 1, 5 * hidden, batch), dtype)
        acts[0, 4 * hidden:] = c0.T
        c_steps = np.empty((seq_len, hidden, batch), dtype) if rolling else acts[1:, 4 * hidden:]
        h_steps = np.empty((seq_len, width + bias, batch), dtype)
        h_prev = np.empty((width + bias, batch), dtype)
        h_prev[:width] = h0.T
        if bias:
            h_steps[:, width] = h_prev[width] = 1
        tanh_c = np.empty((1 if rolling else seq_len, hidden, batch), dtype)
        out_gate = tanh_c if w_hr is None else np.empty_like(tanh_c)  # o tanh(c), before W_hr
        product = np.empty((2 * hidden, batch), dtype)
        lengths = self.lengths
        shortest = seq_len if lengths is None else int(lengths.min())
        # the blocks of every step's buffer as views made once: a step then indexes, not slices
        # (small layers are bound by per-call overhead)
        pres, sigmoid_rows = acts[:, :4 * hidden], acts[:, :3 * hidden]
        out_rows, if_rows, gc_rows, c_rows = (acts[:, :hidden], acts[:, hidden:3 * hidden],
                                              acts[:, 3 * hidden:], acts[:, 4 * hidden:])
        i_g, f_c = product[:hidden], product[hidden:]
        for p, t in enumerate(self._order(seq_len)):
            now, after, kept = (p & 1, ~p & 1, 0) if rolling else (p, p + 1, p)
            pre, sigmoids, c_new, h_new, tanh_new = pres[now], sigmoid_rows[now], \
                c_rows[after], h_steps[t, :width], tanh_c[kept]
            np.matmul(w_scaled, h_prev, out=pre)
            if inline:
                x_t = x_proj[t]
                for rows, source in blocks:
                    np.add(pre[rows], x_t[:, source].T, out=pre[rows])
                sigmoids *= half
            else:
                pre += x_gates[t]
            np.tanh(pre, out=pre)
            sigmoids *= half
            sigmoids += half
            np.multiply(if_rows[now], gc_rows[now], out=product)  # [i g; f c_prev]
            np.add(i_g, f_c, out=c_new)
            np.tanh(c_new, out=tanh_new)
            if w_hr is None:
                np.multiply(out_rows[now], tanh_new, out=h_new)
            else:
                np.multiply(out_rows[now], tanh_new, out=out_gate[kept])
                np.matmul(w_hr, out_gate[kept], out=h_new)
            if t >= shortest:  # finished sequences keep their state
                done = lengths <= t
                np.copyto(h_new, h_prev[:width], where=done)
                np.copyto(c_new, c_rows[now], where=done)
            if rolling:
                c_steps[p] = c_new
            h_prev = h_steps[t]
        self.acts, self.tanh_c, self.out_gate, self.h0 = acts, tanh_c, out_gate, h0
        # the output [h | c] (L, N, P + H): both transposed once, in bulk
        states = np.empty((seq_len, batch, width + hidden), dtype)
        states[:, :, :width] = h_steps[:, :width].transpose(0, 2, 1)
        states[:, :, width:] = (c_steps[::-1] if self.reverse else c_steps).transpose(0, 2, 1)
        self.states = states
        return states

    def backward(self, grad_output):  # (L, N, P + H)
        acts, tanh_c, out_gate, w_hr = self.acts, self.tanh_c, self.out_gate, self.w_hr
        seq_len, batch, gates = self.x_shape
        if len(acts) != seq_len + 1:
            raise RuntimeError("LSTMSequence.backward: this op was made with keep=False (no "
                               "backward) and kept only its last steps' gates")
        hidden, width = gates // 4, self.w_hh.shape[1]
        dtype = acts.dtype
        one = dtype.type(1)
        # what each gate's gradient multiplies, derivative included, for all steps at once:
        # d[o, i, f, g] = [g_h tanh(c), g_c g, g_c c_prev, g_c i] * act'. (Row blocks of
        # (L, rows, N) arrays: numpy iterates those as 2-d, (L, 4, H, N) slices cost 5x.)
        def rows(array, k, stop=None):  # gates k to stop (default k + 1) of (L, gates H, N)
            return array[:, k * hidden:(k + 1 if stop is None else stop) * hidden]

        gate = acts[:seq_len]  # o, i, f, g, c_prev
        slope = np.subtract(one, rows(gate, 0, 4))  # (L, 4H, N)
        sigmoids = rows(slope, 0, 3)
        np.multiply(sigmoids, rows(gate, 0, 3), out=sigmoids)  # sigmoid' = s (1 - s)
        np.multiply(rows(gate, 3), rows(gate, 3), out=rows(slope, 3))
        np.subtract(one, rows(slope, 3), out=rows(slope, 3))  # tanh' = 1 - g^2
        for k, value in enumerate((tanh_c, rows(gate, 3), rows(gate, 4), rows(gate, 1))):
            np.multiply(rows(slope, k), value, out=rows(slope, k))
        through_c = np.multiply(tanh_c, tanh_c)  # g_c += g_h o tanh'(c)
        np.subtract(one, through_c, out=through_c)
        through_c *= rows(gate, 0)
        slope = slope.reshape(seq_len, 4, hidden, batch)
        forget = gate[:, 2 * hidden:3 * hidden]
        # x_proj's gradient, transposed (L, 4H, N) in PyTorch's gate order i, f, g, o (each
        # block contiguous, as the op's o and i, f, g are)
        grad_pre = np.empty((seq_len, 4, hidden, batch), dtype)
        w_back = self.w_hh.T  # (P, 4H): as the first operand, a transpose costs matmul nothing
        grad_state = np.zeros((width + hidden, batch), dtype)  # [g_h; g_c] of the state
        grad_h, grad_c = grad_state[:width], grad_state[width:]
        grad_out_gate = grad_h if w_hr is None else np.empty((hidden, batch), dtype)
        grad_proj = None if w_hr is None else np.empty((seq_len, batch, width), dtype)
        scratch = np.empty((hidden, batch), dtype)
        positions = list(self._order(seq_len))
        lengths = self.lengths
        for p in range(seq_len - 1, -1, -1):
            t = positions[p]
            grad_state += grad_output[t].T
            kept = None
            if lengths is not None and (lengths <= t).any():
                done = lengths <= t  # the step left these states unchanged
                kept = np.where(done, grad_state, 0)
                grad_state[:, done] = 0
            if w_hr is not None:
                grad_proj[p] = grad_h.T  # by position, as out_gate
                np.matmul(w_hr.T, grad_h, out=grad_out_gate)
            np.multiply(grad_out_gate, through_c[p], out=scratch)
            grad_c += scratch
            step = grad_pre[t]
            np.multiply(grad_out_gate, slope[p, 0], out=step[3])
            np.multiply(grad_c, slope[p, 1:], out=step[:3])
            np.matmul(w_back, step.reshape(gates, batch), out=grad_h)
            grad_c *= forget[p]
            if kept is not None:
                grad_state += kept
        # W_hh's gradient: sum over steps of grad_pre[t]^T h_before(t), the states before the
        # steps being states[:-1] and h0 (forward) or states[1:] and h0 (reverse)
        grad_x = np.ascontiguousarray(grad_pre.reshape(seq_len, gates, batch).transpose(0, 2, 1))
        h_steps = self.states[:, :, :width]
        first, rest, previous = ((seq_len - 1, slice(0, -1), slice(1, None)) if self.reverse
                                 else (0, slice(1, None), slice(0, -1)))
        grad_w = grad_x[first].T @ self.h0
        if seq_len > 1:
            grad_w += grad_x[rest].reshape(-1, gates).T @ h_steps[previous].reshape(-1, width)
        grads = [grad_x, np.ascontiguousarray(grad_h.T), np.ascontiguousarray(grad_c.T), grad_w]
        if self.bias:
            # (the rows counted out: -1 cannot be inferred for a cell of hidden_size 0)
            grads.append(grad_x.reshape(seq_len * batch, gates).sum(axis=0))
        if w_hr is not None:  # h = W_hr (o tanh c): sum over steps of grad h^T (o tanh c)
            grads.append(grad_proj.reshape(-1, width).T
                         @ out_gate.transpose(0, 2, 1).reshape(-1, hidden))
        return tuple(grads)

    def _graph_step(self, x_t, h_proj, states, w_hr):
        hidden = x_t.shape[1] // 4
        pre = x_t + h_proj  # (N, 4H)
        i, f, g, o = (pre[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c = f.sigmoid() * states[1] + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return [h if w_hr is None else h @ w_hr.T, c]


class GRUSequence(_Recurrence):
    """PyTorch's GRU: r, z = sigmoid(x_r + h_r, x_z + h_z), n = tanh(x_n + r (h W_hn^T + b_hn)),
    h' = (1 - z) n + z h, with h_r, h_z, h_n = split(h W_hh^T + b_hh)."""

    additive = False

    def _allocate(self, seq_len, step_shape, dtype):
        batch, hidden = step_shape[0], step_shape[1] // 3
        self.rz = np.empty((seq_len, batch, 2 * hidden), dtype)
        self.n = np.empty((seq_len, batch, hidden), dtype)
        self.h_n = np.empty_like(self.n)  # h W_hn^T + b_hn

    def _step(self, t, x_t, h_proj, state, out):
        hidden = state.shape[1]
        rz, n, h_n = self.rz[t], self.n[t], self.h_n[t]
        np.add(x_t[:, :2 * hidden], h_proj[:, :2 * hidden], out=rz)
        np.tanh(np.multiply(rz, 0.5, out=rz), out=rz)  # sigmoid = 1/2 + tanh(x / 2) / 2
        rz *= 0.5
        rz += 0.5
        h_n[...] = h_proj[:, 2 * hidden:]
        np.multiply(rz[:, :hidden], h_n, out=n)
        n += x_t[:, 2 * hidden:]
        np.tanh(n, out=n)
        np.subtract(state, n, out=out)  # h' = n + z (h - n)
        out *= rz[:, hidden:]
        out += n

    def _graph_step(self, x_t, h_proj, states, w_hr):
        hidden = states[0].shape[1]
        rz = (x_t[:, :2 * hidden] + h_proj[:, :2 * hidden]).sigmoid()
        n = (x_t[:, 2 * hidden:] + rz[:, :hidden] * h_proj[:, 2 * hidden:]).tanh()
        return [n + rz[:, hidden:] * (states[0] - n)]

    def _step_backward(self, t, grad_new, grad_x, grad_prev):
        rz, n, h_n, state = self.rz[t], self.n[t], self.h_n[t], self._before(t)
        hidden = state.shape[1]
        r, z = rz[:, :hidden], rz[:, hidden:]
        grad_n = grad_new * (1 - z) * (1 - n * n)  # through tanh to its argument
        grad_rz = grad_x[:, :2 * hidden]
        np.multiply(grad_n, h_n, out=grad_rz[:, :hidden])
        np.multiply(grad_new, state - n, out=grad_rz[:, hidden:])
        grad_rz *= rz * (1 - rz)
        grad_x[:, 2 * hidden:] = grad_n
        grad_h_proj = np.concatenate([grad_rz, grad_n * r], axis=1)
        np.matmul(grad_h_proj, self.w_hh, out=grad_prev)
        grad_prev += grad_new * z
        return grad_h_proj


class RNNSequence(_Recurrence):
    """Elman: h' = tanh(x_proj + h W_hh^T + b_hh), or relu."""

    def __init__(self, nonlinearity: str = "tanh", reverse: bool = False, lengths=None,
                 bias: bool = True):
        super().__init__(reverse, lengths, bias)
        self.nonlinearity = nonlinearity

    def _step(self, t, x_t, h_proj, state, out):
        h_proj += x_t
        if self.nonlinearity == "tanh":
            np.tanh(h_proj, out=out)
        else:
            np.maximum(h_proj, 0, out=out)

    def _graph_step(self, x_t, h_proj, states, w_hr):
        pre = x_t + h_proj
        return [pre.tanh() if self.nonlinearity == "tanh" else pre.relu()]

    def _step_backward(self, t, grad_new, grad_pre, grad_prev):
        h = self.states[t]
        # relu: the gradient passes where not h <= 0, a nan too (torch's threshold_backward)
        np.multiply(grad_new, 1 - h * h if self.nonlinearity == "tanh" else ~(h <= 0),
                    out=grad_pre)
        np.matmul(grad_pre, self.w_hh, out=grad_prev)
        return grad_pre


class _OneStep:
    """A sequence op on one step: x_proj (N, G) in, the new state (N, S) out."""

    def forward(self, x_proj, *arrays):
        return super().forward(x_proj[None], *arrays)[0]

    def backward(self, grad_output):
        grad_x, *rest = super().backward(grad_output[None])
        return (grad_x[0], *rest)

    def _graph_sequence(self, x_proj, *inputs):
        return super()._graph_sequence(x_proj.reshape(1, *x_proj.shape), *inputs)[0]


class LSTMCell(_OneStep, LSTMSequence):
    """One LSTM step: (x_proj (N, 4H), h_prev, c_prev, W_hh [, b_hh]) -> [h | c] (N, 2H)."""


class GRUCell(_OneStep, GRUSequence):
    """One GRU step: (x_proj (N, 3H), h_prev, W_hh [, b_hh]) -> h (N, H)."""


class RNNCell(_OneStep, RNNSequence):
    """One Elman step: (x_proj (N, H), h_prev, W_hh [, b_hh]) -> h (N, H)."""


def _inputs(name: str, gates: int, x_proj, states, w_hh, b_hh=None, w_hr=None,
            lengths=None) -> list:
    """The op's inputs [x_proj, *states, w_hh, (b_hh), (w_hr)], their shapes checked."""
    w_shape = tuple(np.shape(w_hh))
    if len(w_shape) != 2 or w_shape[0] % gates:  # (hidden_size 0: a cell's, as torch's)
        raise ValueError(f"{name}: expected w_hh of shape ({gates} * hidden_size, size of h), "
                         f"got {w_shape}")
    hidden, width = w_shape[0] // gates, w_shape[1]
    x_shape = tuple(np.shape(x_proj))
    steps = name.endswith("sequence")
    if len(x_shape) != (3 if steps else 2) or x_shape[-1] != gates * hidden:
        # too few axes: torch's IndexError (it reads the missing one)
        error = ArgIndexError if len(x_shape) < (3 if steps else 2) else ValueError
        raise error(f"{name}: expected x_proj of shape ({'seq_len, ' if steps else ''}"
                    f"batch, {gates * hidden}) for w_hh of shape {w_shape}, got {x_shape}")
    if w_hr is None and width != hidden:
        raise ValueError(f"{name}: expected w_hh of shape ({gates * hidden}, {hidden}) without "
                         f"w_hr, got {w_shape}")
    expected = [("h", states[0], (x_shape[-2], width)), ("b_hh", b_hh, (gates * hidden,)),
                ("w_hr", w_hr, (width, hidden))]
    if len(states) == 2:
        expected.append(("c", states[1], (x_shape[-2], hidden)))
    for what, value, shape in expected:
        if value is not None and tuple(np.shape(value)) != shape:
            raise ArgError(f"{name}: expected {what} of shape {shape}, got "
                           f"{tuple(np.shape(value))}")
    if lengths is not None and np.shape(lengths) != (x_shape[1],):
        raise ValueError(f"{name}: expected lengths of shape ({x_shape[1]},), got "
                         f"{np.shape(lengths)}")
    return [x_proj, *states, w_hh, *([] if b_hh is None else [b_hh]),
            *([] if w_hr is None else [w_hr])]


def check_nonlinearity(name: str, nonlinearity: str) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def lstm_sequence(x_proj, h0, c0, w_hh, b_hh=None, w_hr=None, reverse: bool = False,
                  lengths=None):
    """(output (L, N, P), h_n (N, P), c_n (N, H)) of one LSTM layer direction from
    x_proj (L, N, 4H); h_n and c_n are the state after the last step taken. P = H, or W_hr's
    rows with projections (W_hh then (4H, P))."""
    inputs = _inputs("lstm_sequence", 4, x_proj, (h0, c0), w_hh, b_hh, w_hr, lengths)
    keep = is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in inputs)
    states = LSTMSequence(reverse, lengths, b_hh is not None, w_hr is not None, keep)(*inputs)
    width = w_hh.shape[1]
    last = 0 if reverse else states.shape[0] - 1
    return states[:, :, :width], states[last, :, :width], states[last, :, width:]


def gru_sequence(x_proj, h0, w_hh, b_hh=None, reverse: bool = False, lengths=None):
    """(output (L, N, H), h_n (N, H)) of one GRU layer direction from x_proj (L, N, 3H)."""
    inputs = _inputs("gru_sequence", 3, x_proj, (h0,), w_hh, b_hh, lengths=lengths)
    states = GRUSequence(reverse, lengths, b_hh is not None)(*inputs)
    return states, states[0 if reverse else states.shape[0] - 1]


def rnn_sequence(x_proj, h0, w_hh, b_hh=None, nonlinearity: str = "tanh",
                 reverse: bool = False, lengths=None):
    """(output (L, N, H), h_n (N, H)) of one Elman layer direction from x_proj (L, N, H)."""
    inputs = _inputs("rnn_sequence", 1, x_proj, (h0,), w_hh, b_hh, lengths=lengths)
    op = RNNSequence(check_nonlinearity("rnn_sequence", nonlinearity), reverse, lengths,
                     b_hh is not None)
    states = op(*inputs)
    return states, states[0 if reverse else states.shape[0] - 1]


def lstm_cell(x_proj, h_prev, c_prev, w_hh, b_hh=None):
    """(h, c), each (N, H), of one LSTM step from x_proj (N, 4H)."""
    inputs = _inputs("lstm_cell", 4, x_proj, (h_prev, c_prev), w_hh, b_hh)
    state = LSTMCell(bias=b_hh is not None)(*inputs)  # (N, 2H)
    hidden = w_hh.shape[1]
    # (torch's h and c are fresh tensors, not views of one array: contiguous)
    return state[:, :hidden].contiguous(), state[:, hidden:].contiguous()


def gru_cell(x_proj, h_prev, w_hh, b_hh=None):
    """h (N, H) after one GRU step from x_proj (N, 3H)."""
    inputs = _inputs("gru_cell", 3, x_proj, (h_prev,), w_hh, b_hh)
    h = GRUCell(bias=b_hh is not None)(*inputs)
    # torch's gru_cell ends in (h_prev - new_gate) * z + new_gate: element-wise ops its
    # TensorIterator lays out after h_prev (a transposed h_prev: a transposed h) and the new
    # gate (a column block of the (N, 3H) gates)
    previous = getattr(h_prev, "data", h_prev)
    if type(previous) is np.ndarray and previous.ndim == 2 and not previous.flags.c_contiguous \
            and type(h.data) is np.ndarray:
        gate = np.empty((previous.shape[0], 3 * previous.shape[1]), h.data.dtype)
        h.data = iterator_layout(h.data, previous, gate[:, 2 * previous.shape[1]:])
    return h


def rnn_cell(x_proj, h_prev, w_hh, b_hh=None, nonlinearity: str = "tanh"):
    """h (N, H) after one Elman step (tanh or relu) from x_proj (N, H)."""
    inputs = _inputs("rnn_cell", 1, x_proj, (h_prev,), w_hh, b_hh)
    return RNNCell(check_nonlinearity("rnn_cell", nonlinearity), bias=b_hh is not None)(*inputs)
