"""Where dlpy's warnings point: at the line that called the public function, as torch's do,
whatever wrappers the call passed through (torch-function dispatch, autocast's policy, the numpy
keyword aliases), so ``warnings.filterwarnings(module=...)``, ``-W`` filters and
``pytest.warns`` checks of the filename do not depend on what was imported before.

Each case runs in a fresh interpreter (this file run as a script), once as imported and once
after ``dlpy.overrides.enable_dispatch()`` (what defining a Tensor subclass with
``__torch_function__`` does). ``AT_CALLER`` are warnings torch 2.13 gives at the caller's line
(checked with torch by hand: the same calls, ``warnings.catch_warnings(record=True)``); the
warning must name this file, at a line of the case. ``INSIDE`` are warnings torch gives at a
line of its own code (a layer's forward calling nn.functional, the legacy ``size_average``
handling): dlpy's names the analogous file of its own, in both runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

HERE = os.path.abspath(__file__)
SRC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src")

AT_CALLER: dict = {}  # name -> (category name, message regex, case)
INSIDE: dict = {}  # name -> (category name, message regex, dlpy file relative to the package, case)


def at_caller(category: str, match: str):
    def register(case):
        AT_CALLER[case.__name__] = (category, match, case)
        return case
    return register


def inside(category: str, match: str, where: str):
    def register(case):
        INSIDE[case.__name__] = (category, match, where, case)
        return case
    return register


def _params(dlpy):
    p = dlpy.nn.Parameter(dlpy.ones(2))
    return p, dlpy.optim.SGD([p], lr=0.1)


# ---------------------------------------------------------------------------- nn.functional
@at_caller("UserWarning", "Converting a tensor with requires_grad=True to a scalar")
def float_of_a_tensor_requiring_grad(dlpy, nn, F):
    float(dlpy.ones((), requires_grad=True))


@at_caller("UserWarning", "using a target size")
def mse_loss_broadcasting(dlpy, nn, F):
    F.mse_loss(dlpy.ones(3, 1), dlpy.ones(3))


@at_caller("UserWarning", "using a target size")
def l1_loss_broadcasting(dlpy, nn, F):
    F.l1_loss(dlpy.ones(3, 1), dlpy.ones(3))


@at_caller("UserWarning", "Implicit dimension choice for softmax")
def softmax_without_dim(dlpy, nn, F):
    F.softmax(dlpy.ones(2, 3))


@at_caller("UserWarning", "Implicit dimension choice for log_softmax")
def log_softmax_without_dim(dlpy, nn, F):
    F.log_softmax(dlpy.ones(2, 3))


@at_caller("UserWarning", "Implicit dimension choice for softmin")
def softmin_without_dim(dlpy, nn, F):
    F.softmin(dlpy.ones(2, 3))


@at_caller("UserWarning", "reduction: 'mean' divides")
def kl_div_mean(dlpy, nn, F):
    F.kl_div(dlpy.ones(3), dlpy.ones(3), reduction="mean")


@at_caller("UserWarning", "dropout2d")
def dropout2d_of_3d_input(dlpy, nn, F):
    F.dropout2d(dlpy.ones(2, 3, 4))


@at_caller("UserWarning", "dropout3d")
def dropout3d_of_3d_input(dlpy, nn, F):
    F.dropout3d(dlpy.ones(2, 3, 4))


@at_caller("UserWarning", "upsample` is deprecated")
def upsample(dlpy, nn, F):
    F.upsample(dlpy.ones(1, 1, 2, 2), scale_factor=2)


@at_caller("UserWarning", "upsample_nearest` is deprecated")
def upsample_nearest(dlpy, nn, F):
    F.upsample_nearest(dlpy.ones(1, 1, 2, 2), scale_factor=2)


@at_caller("UserWarning", "upsample_bilinear` is deprecated")
def upsample_bilinear(dlpy, nn, F):
    F.upsample_bilinear(dlpy.ones(1, 1, 2, 2), scale_factor=2)


@at_caller("UserWarning", "Default grid_sample and affine_grid")
def grid_sample_without_align_corners(dlpy, nn, F):
    F.grid_sample(dlpy.ones(1, 1, 2, 2), dlpy.zeros(1, 1, 1, 2))


@at_caller("UserWarning", "Default grid_sample and affine_grid")
def affine_grid_without_align_corners(dlpy, nn, F):
    F.affine_grid(dlpy.eye(2, 3)[None], [1, 1, 2, 2])


@at_caller("UserWarning", "`eps` parameter is deprecated")
def gumbel_softmax_eps(dlpy, nn, F):
    F.gumbel_softmax(dlpy.ones(2, 3), eps=1e-3)


# ---------------------------------------------------------------------------- nn
@at_caller("FutureWarning", "nn.init.normal is now deprecated")
def init_deprecated_name(dlpy, nn, F):
    nn.init.normal(dlpy.ones(2, 2))


@at_caller("FutureWarning", "nn.init.xavier_uniform is now deprecated")
def init_deprecated_xavier(dlpy, nn, F):
    nn.init.xavier_uniform(dlpy.ones(2, 2))


@at_caller("UserWarning", "zero-element tensor is a no-op")
def init_zero_element(dlpy, nn, F):
    nn.init.kaiming_normal_(dlpy.ones(0, 2))


@at_caller("FutureWarning", "min_value")
def hardtanh_min_value(dlpy, nn, F):
    nn.Hardtanh(min_value=-2.0)


@at_caller("FutureWarning", "NLLLoss2d has been deprecated")
def nll_loss_2d(dlpy, nn, F):
    nn.NLLLoss2d()


@at_caller("FutureWarning", "clip_grad_norm` is now deprecated")
def clip_grad_norm(dlpy, nn, F):
    nn.utils.clip_grad_norm([dlpy.ones(2, requires_grad=True)], 1.0)


@at_caller("UserWarning", "enable_nested_tensor is True")
def transformer_encoder_nested(dlpy, nn, F):
    nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, norm_first=True), 2)


@at_caller("FutureWarning", "Positional args are being deprecated")
def state_dict_positional(dlpy, nn, F):
    nn.Linear(2, 2).state_dict({})


@at_caller("FutureWarning", "apply_permutation` is deprecated")
def rnn_apply_permutation(dlpy, nn, F):
    nn.modules.rnn.apply_permutation(dlpy.ones(2, 3), dlpy.tensor([0, 1, 2]))


# ---------------------------------------------------------------------------- ops, tensors
@at_caller("UserWarning", "torch.range is deprecated")
def range_deprecated(dlpy, nn, F):
    dlpy.range(0, 3)


@at_caller("UserWarning", "degrees of freedom is <= 0")
def var_method_dof(dlpy, nn, F):
    dlpy.ones(1).var()


@at_caller("UserWarning", "degrees of freedom is <= 0")
def var_function_dof(dlpy, nn, F):
    dlpy.var(dlpy.ones(1))


@at_caller("UserWarning", "cov\\(\\): degrees of freedom")
def cov_dof(dlpy, nn, F):
    dlpy.cov(dlpy.ones(1, 1))


@at_caller("UserWarning", "To copy construct from a tensor")
def tensor_of_tensor(dlpy, nn, F):
    dlpy.tensor(dlpy.ones(2))


@at_caller("UserWarning", "To copy construct from a tensor")
def new_tensor_of_tensor(dlpy, nn, F):
    dlpy.ones(2).new_tensor(dlpy.ones(2))


@at_caller("UserWarning", "The given NumPy array is not writable")
def from_numpy_read_only(dlpy, nn, F):
    array = np.ones(2)
    array.flags.writeable = False
    dlpy.from_numpy(array)


@at_caller("UserWarning", "An output with one or more elements was resized")
def out_resized(dlpy, nn, F):
    dlpy.add(dlpy.ones(3), dlpy.ones(3), out=dlpy.ones(5))


@at_caller("UserWarning", "This overload of add is deprecated")
def add_number_first(dlpy, nn, F):
    dlpy.ones(2).add(2, dlpy.ones(2))


@at_caller("UserWarning", "non-inplace resize is deprecated")
def resize(dlpy, nn, F):
    dlpy.ones(4).resize(2, 2)


@at_caller("UserWarning", "non-inplace resize_as is deprecated")
def resize_as(dlpy, nn, F):
    dlpy.ones(4).resize_as(dlpy.ones(2, 2))


@at_caller("UserWarning", "volatile was removed")
def volatile(dlpy, nn, F):
    _ = dlpy.ones(2).volatile


@at_caller("UserWarning", "no window was given")
def stft_without_window(dlpy, nn, F):  # (torch's points into torch/functional.py; dlpy's here)
    dlpy.stft(dlpy.ones(16), 8, return_complex=True)


@at_caller("UserWarning", "return_complex=False is deprecated")
def stft_return_complex_false(dlpy, nn, F):  # (as the one above)
    dlpy.stft(dlpy.ones(16), 8, window=dlpy.ones(8), return_complex=False)


# ---------------------------------------------------------------------------- optim
@at_caller("UserWarning", "Detected call of `lr_scheduler.step\\(\\)` before")
def scheduler_step_before_optimizer_step(dlpy, nn, F):
    _, optimizer = _params(dlpy)
    scheduler = dlpy.optim.lr_scheduler.StepLR(optimizer, 1)
    scheduler.step()


@at_caller("UserWarning", "The epoch parameter in `scheduler.step\\(\\)`")
def scheduler_step_epoch(dlpy, nn, F):
    _, optimizer = _params(dlpy)
    scheduler = dlpy.optim.lr_scheduler.StepLR(optimizer, 1)
    optimizer.step()
    scheduler.step(3)


@at_caller("UserWarning", "To get the last learning rate computed by the scheduler")
def scheduler_get_lr(dlpy, nn, F):
    _, optimizer = _params(dlpy)
    dlpy.optim.lr_scheduler.StepLR(optimizer, 1).get_lr()


@at_caller("UserWarning", "The epoch parameter in `scheduler.step\\(\\)`")
def plateau_step_epoch(dlpy, nn, F):
    _, optimizer = _params(dlpy)
    scheduler = dlpy.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    optimizer.step()
    scheduler.step(1.0, 3)


@at_caller("UserWarning", "duplicate parameters")
def optimizer_duplicate_parameters(dlpy, nn, F):
    p = dlpy.nn.Parameter(dlpy.ones(2))
    dlpy.optim.SGD([p, p], lr=0.1)


# ---------------------------------------------------------------------------- autograd
@at_caller("UserWarning", "only_inputs argument is deprecated")
def grad_only_inputs(dlpy, nn, F):
    x = dlpy.ones(2, requires_grad=True)
    dlpy.autograd.grad((x * 2).sum(), x, only_inputs=False)


@at_caller("DeprecationWarning", "should not be instantiated")
def function_instantiated(dlpy, nn, F):
    class Identity(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

    Identity()


@at_caller("UserWarning", "the use_reentrant parameter should be passed")
def checkpoint_without_use_reentrant(dlpy, nn, F):
    dlpy.utils.checkpoint.checkpoint(lambda x: x * 2, dlpy.ones(2, requires_grad=True))


@at_caller("UserWarning", "Anomaly Detection has been enabled")
def detect_anomaly(dlpy, nn, F):
    dlpy.autograd.detect_anomaly()


@at_caller("FutureWarning", "Decorating classes is deprecated")
def no_grad_on_a_class(dlpy, nn, F):
    class Plain:
        pass

    dlpy.no_grad()(Plain)


# ---------------------------------------------------------------------------- data, distributions
@at_caller("UserWarning", "Length of split at index 0 is 0")
def random_split_empty(dlpy, nn, F):
    dlpy.data.random_split(range(4), [0.0, 1.0])


@at_caller("UserWarning", "df < p")
def wishart_low_df(dlpy, nn, F):
    dlpy.distributions.Wishart(dlpy.tensor(1.5), covariance_matrix=dlpy.eye(2))


# ---------------------------------------------------------------------------- amp
@at_caller("UserWarning", "In CPU autocast, but the target dtype is not supported")
def autocast_unsupported_dtype(dlpy, nn, F):
    dlpy.autocast("cpu", dtype=dlpy.float64)


@at_caller("UserWarning", "GradScaler is enabled, but CUDA is not available")
def grad_scaler_without_cuda(dlpy, nn, F):
    dlpy.amp.GradScaler("cuda")


@at_caller("FutureWarning", "torch.cuda.amp.autocast\\(args...\\)` is deprecated")
def cuda_amp_autocast(dlpy, nn, F):
    dlpy.cuda.amp.autocast()


@at_caller("FutureWarning", "torch.cpu.amp.autocast\\(args...\\)` is deprecated")
def cpu_amp_autocast(dlpy, nn, F):
    dlpy.cpu.amp.autocast()


@at_caller("DeprecationWarning", "is_autocast_cpu_enabled\\(\\) is deprecated")
def is_autocast_cpu_enabled(dlpy, nn, F):
    dlpy.is_autocast_cpu_enabled()


# ---------------------------------------------------------------------------- testing, profiler, fx
@at_caller("FutureWarning", "assert_allclose\\(\\)` is deprecated")
def assert_allclose_deprecated(dlpy, nn, F):
    dlpy.testing.assert_allclose(dlpy.ones(2), dlpy.ones(2))


@at_caller("FutureWarning", "Passing `low==high`")
def make_tensor_low_equals_high(dlpy, nn, F):
    dlpy.testing.make_tensor(2, dtype=dlpy.float32, device="cpu", low=1, high=1)


@at_caller("UserWarning", "Profiler won't be using warmup")
def profiler_schedule_without_warmup(dlpy, nn, F):
    dlpy.profiler.schedule(wait=1, warmup=0, active=1)


@at_caller("FutureWarning", "`use_cuda` is deprecated")
def profiler_use_cuda(dlpy, nn, F):
    dlpy.profiler.profile(use_cuda=True)


@at_caller("UserWarning", "Trying to prepend a node to itself")
def fx_prepend_itself(dlpy, nn, F):
    graph = dlpy.fx.Graph()
    x = graph.placeholder("x")
    x.prepend(x)


# ---------------------------------------------------------------------------- torch: its own code
@inside("UserWarning", "using a target size", "nn/loss.py")
def mse_loss_layer_broadcasting(dlpy, nn, F):  # torch: torch/nn/modules/loss.py (forward)
    nn.MSELoss()(dlpy.ones(3, 1), dlpy.ones(3))


@inside("UserWarning", "reduction: 'mean' divides", "nn/loss.py")
def kl_div_layer_mean(dlpy, nn, F):  # torch: torch/nn/modules/loss.py (forward)
    nn.KLDivLoss(reduction="mean")(dlpy.ones(3), dlpy.ones(3))


@inside("UserWarning", "dropout2d", "nn/norm.py")
def dropout2d_layer_of_3d_input(dlpy, nn, F):  # torch: torch/nn/modules/dropout.py (forward)
    nn.Dropout2d()(dlpy.ones(2, 3, 4))


@inside("UserWarning", "size_average and reduce args will be deprecated", "functional.py")
def mse_loss_size_average(dlpy, nn, F):  # torch: torch/nn/functional.py (mse_loss)
    F.mse_loss(dlpy.ones(3), dlpy.ones(3), size_average=True)


@inside("UserWarning", "size_average and reduce args will be deprecated", "nn/loss.py")
def mse_loss_layer_size_average(dlpy, nn, F):  # torch: torch/nn/modules/loss.py (__init__)
    nn.MSELoss(size_average=True)


@inside("UserWarning", "elementwise_mean", "functional.py")
def mse_loss_elementwise_mean(dlpy, nn, F):  # torch: torch/nn/functional.py (mse_loss)
    F.mse_loss(dlpy.ones(3), dlpy.ones(3), reduction="elementwise_mean")


@inside("UserWarning", "None of the inputs have requires_grad", "utils/checkpoint.py")
def checkpoint_no_input_requires_grad(dlpy, nn, F):  # torch: torch/utils/checkpoint.py
    dlpy.utils.checkpoint.checkpoint(lambda x: x * 2, dlpy.ones(2), use_reentrant=True)


# ---------------------------------------------------------------------------- the runs
def _run_cases(dispatch: bool) -> dict:
    """{case: [[category, message, filename, lineno], ...]} of the warnings each case gave."""
    import dlpy
    import dlpy.functional as F

    if dispatch:
        import dlpy.overrides

        dlpy.overrides.enable_dispatch()
    results = {}
    cases = {**{k: v[-1] for k, v in AT_CALLER.items()}, **{k: v[-1] for k, v in INSIDE.items()}}
    for name, case in cases.items():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                case(dlpy, dlpy.nn, F)
            except Exception as error:  # noqa: BLE001 - reported, the test fails on it
                results[name] = f"{type(error).__name__}: {error}"
                continue
        results[name] = [[w.category.__name__, str(w.message), os.path.abspath(w.filename),
                          w.lineno] for w in record]
    return results


def _run(dispatch: bool) -> dict:
    """_run_cases(dispatch) in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": ""}
    done = subprocess.run([sys.executable, HERE] + (["--dispatch"] if dispatch else []),
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    """results(dispatch) -> _run(dispatch)'s results, one interpreter per mode for the whole
    run: under pytest-xdist the first worker to need them writes them to the run's temporary
    folder (under a lock) and the other workers read them there (each interpreter costs
    seconds: one per worker and mode doubled that with -n 2)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): each worker runs its own
        fcntl = None
    shared = None
    if fcntl is not None and os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent  # one folder for the run's workers
    got = {}

    def get(dispatch: bool) -> dict:
        if dispatch in got:
            return got[dispatch]
        if shared is None:
            got[dispatch] = _run(dispatch)
            return got[dispatch]
        path = shared / f"warning_locations_{'dispatch' if dispatch else 'plain'}.json"
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be writing it
            if not path.exists():
                path.write_text(json.dumps(_run(dispatch)), encoding="utf-8")
            got[dispatch] = json.loads(path.read_text(encoding="utf-8"))
        return got[dispatch]

    return get


def _matching(result, category: str, match: str) -> list:
    assert not isinstance(result, str), result  # the case raised
    found = [w for w in result if w[0] == category and re.search(match, w[1])]
    assert found, f"no {category} matching {match!r} among {result}"
    return found


def _lines(case) -> range:
    import inspect

    source, first = inspect.getsourcelines(case)
    return range(first, first + len(source))


MODES = [pytest.param(False, id="plain"), pytest.param(True, id="dispatch")]


def test_enough_cases():
    assert len(AT_CALLER) >= 40


@pytest.mark.parametrize("dispatch", MODES)
@pytest.mark.parametrize("name", sorted(AT_CALLER))
def test_warning_names_the_callers_line(name, dispatch, results):
    category, match, case = AT_CALLER[name]
    for _, message, filename, lineno in _matching(results(dispatch)[name], category, match):
        assert (filename, lineno in _lines(case)) == (HERE, True), (message, filename, lineno)


@pytest.mark.parametrize("dispatch", MODES)
@pytest.mark.parametrize("name", sorted(INSIDE))
def test_warning_names_dlpys_line_where_torch_names_its_own(name, dispatch, results):
    import dlpy

    category, match, where, _ = INSIDE[name]
    expected = os.path.join(os.path.dirname(os.path.abspath(dlpy.__file__)), where)
    for _, message, filename, lineno in _matching(results(dispatch)[name], category, match):
        assert filename == expected, (message, filename, lineno)


if __name__ == "__main__":
    print(json.dumps(_run_cases("--dispatch" in sys.argv)))
