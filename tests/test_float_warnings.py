"""torch's float arithmetic gives inf and nan silently (1 / 0, log(0), 0 / 0, overflow): so
does dlpy's, in its own API as under compat, while a program's own numpy arithmetic keeps
numpy's warnings (dlpy/__init__.py's filter matches dlpy's modules only)."""

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np

import dlpy

SRC = Path(__file__).resolve().parents[1] / "src"

# forward and backward passes through inf and nan, and reductions of nothing
PROGRAM = textwrap.dedent("""
    import numpy as np
    import dlpy
    import dlpy.nn.functional as F

    x = dlpy.tensor([1.0, 0.0, -1.0, float("inf"), float("nan")], requires_grad=True)
    y = (x / 0 + x.log() + x.sqrt() + x.exp() * 1e308 + x.reciprocal() + x.pow(-2.5)
         + dlpy.tensor([3e38]) * 10 + x.sigmoid().log() + F.softmax(x, 0) + x.tanh().atanh())
    y.sum().backward()
    empty = dlpy.zeros(0, requires_grad=True)
    parts = [empty.mean(), F.mse_loss(empty, empty), dlpy.zeros(2, 0).mean(1),
             dlpy.tensor([float("inf"), -float("inf")]).sum(), dlpy.tensor([3e38, 3e38]).mean(),
             dlpy.prod(dlpy.tensor([300.0, 300.0], dtype=dlpy.float16)),
             F.log_softmax(dlpy.tensor([float("inf"), 1.0]), 0),
             F.cross_entropy(dlpy.tensor([[float("-inf"), 0.0]]), dlpy.tensor([0]))]
    assert np.isnan(x.grad.numpy()).any() and np.isnan(parts[0].item())
    try:
        np.log(np.zeros(1))
    except RuntimeWarning as warning:
        print("numpy:", warning)
""")


def test_dlpy_computes_inf_and_nan_silently_where_numpy_warns():
    # -W error turns any RuntimeWarning dlpy let out into an exception: the run ends with the
    # program's own np.log(0), which still warns (so still raises)
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", PROGRAM],
                          capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "numpy: divide by zero encountered in log\n", done.stdout


def test_backward_passes_stay_silent_where_every_warning_is_shown():
    # warnings.simplefilter("always") (the usual way to assert that nothing warns) overrides
    # dlpy's module filter: the backward passes themselves keep numpy's floating-point
    # warnings off (sqrt's gradient at 0 divides by zero), while the program's own numpy warns
    x = dlpy.tensor([0.0, 4.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x.sqrt().sum().backward()
        g, = dlpy.autograd.grad(x.sqrt().sum(), x, create_graph=True)
        g.sum().backward()
        assert not caught
        np.divide(np.ones(1), 0)
    assert [type(w.message) for w in caught] == [RuntimeWarning]
    # 1 / (2 sqrt(x)) accumulated with -1 / (4 x^1.5): inf - inf at 0, as torch's
    assert np.isnan(x.grad.numpy()[0]) and x.grad.numpy()[1] == 0.25 - 1 / 32
