"""torch's names for dlpy's graph nodes: ``y.grad_fn.name()`` is "MulBackward0", "MmBackward0",
"ViewBackward0", ... as torch prints them, for the common ops; any other op is its class name +
"Backward0" (dlpy's op, not torch's, where the two differ)."""

from __future__ import annotations

import weakref

import numpy as np

# op -> torch's name where it depends on the call, not on the op's settings (an in-place
# activation's node saves its result: EluBackward1; rrelu's node is RreluWithNoiseBackward0):
# set with ``rename``, kept off the op so free() (which drops what forward added) keeps it
_renamed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def rename(op, name: str) -> None:
    """Give ``op`` (a recorded node) torch's node name ``name`` for grad_fn.name()."""
    _renamed[op] = name


def named(out, name: str):
    """``out`` with its recorded node, if any, named torch's ``name`` (a composite's last node:
    addmm's add is torch's AddmmBackward0; the node of several outputs whose output it is)."""
    op = getattr(out, "op", None)
    if op is not None:
        from dlpy.ops.multi_output import node_of

        _renamed[node_of(op)[0]] = name
    return out

def rename_scalar_overload(out, name: str, first, second):
    """torch's node for f(number, tensor) is ``name``Backward1, for f(tensor, number)
    ``name``Backward2 (its Scalar overloads, with no edge for the number); ``out`` returned."""
    op = getattr(out, "op", None)
    if op is not None:
        number = (int, float, np.number)
        if isinstance(first, number):
            rename(op, f"{name}Backward1")
        elif isinstance(second, number):
            rename(op, f"{name}Backward2")
    return drop_numbers(out, first, second)


# op -> torch's edges for its next_functions where they are not dlpy's inputs one by one:
# dlpy's input indices in torch's order, None for an edge torch lists with no node (an
# optional input given as None: conv's bias); an input left out has no edge (the constant
# dlpy makes of a Python number, which torch's Scalar overloads take as no tensor)
_edges: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def edges(out, order):
    """``out`` with its node's next_functions in torch's ``order`` (see _edges)."""
    op = getattr(out, "op", None)
    if op is not None and all(i is None or i < len(op.inputs) for i in order):
        _edges[op] = tuple(order)
    return out


def edge_order(op):
    """``op``'s edges as torch lists them (see _edges), or None: its inputs one by one."""
    if not _edges:
        return None
    try:
        return _edges.get(op)
    except TypeError:  # an unhashable node (a user's class with __eq__)
        return None


def drop_numbers(out, *operands):
    """``out``, whose node took ``operands`` as its inputs (in order), with no edge for those
    that are Python numbers, as torch's Scalar overloads (2 - x: RsubBackward1, x's edge
    only)."""
    op = getattr(out, "op", None)
    if op is not None and len(op.inputs) == len(operands):
        keep = tuple(i for i, v in enumerate(operands)
                     if not isinstance(v, (int, float, complex, np.number)))
        if len(keep) < len(operands):
            _edges[op] = keep
    return out


def optional_edges(out, kind, *given):
    """``out``, whose node (an op of class ``kind``) took the inputs torch's takes, those
    given (True in ``given``) only: torch's edges with (None, 0) for the others (conv's
    bias=None, batch_norm's weight and bias)."""
    op = getattr(out, "op", None)
    if isinstance(op, kind) and not all(given) and len(op.inputs) == sum(map(bool, given)):
        count = iter(range(len(given)))
        _edges[op] = tuple(next(count) if g else None for g in given)
    return out


# dlpy's op class -> torch's node name (before "Backward" and the overload number)
_NAMES = {
    "Power": "Pow", "ReLU": "Relu", "GELU": "Gelu", "GELUTanh": "Gelu", "SiLU": "Silu",
    "LeakyReLU": "LeakyRelu", "ELU": "Elu", "Cast": "ToCopy", "Concat": "Cat",
    "Identity": "Clone", "Relayout": "Clone", "LogSumExp": "Logsumexp", "CumSum": "Cumsum",
    "LogCumSumExp": "Logcumsumexp",
    "CumProd": "Cumprod", "LayerNorm": "NativeLayerNorm", "BatchNorm": "NativeBatchNorm",
    "GroupNorm": "NativeGroupNorm",
    "BCEWithLogits": "BinaryCrossEntropyWithLogits", "MSELoss": "MseLoss",
    "Norm": "LinalgVectorNorm",
    "Dropout": "Mul", "ConvNd": "Convolution", "Conv1d": "Convolution",
    "Conv2d": "Convolution", "Conv3d": "Convolution", "ConvTransposeNd": "Convolution",
    "ConvTranspose1d": "Convolution", "ConvTranspose2d": "Convolution",
    "ConvTranspose3d": "Convolution", "MaxPool2d": "MaxPool2DWithIndices",
    "MaxPool3d": "MaxPool3DWithIndices", "AvgPool2d": "AvgPool2D", "AvgPool3d": "AvgPool3D",
    "CTCLoss": "CtcLoss", "CTC": "CtcLoss", "NanMedian": "Nanmedian", "NanSum": "Nansum",
    "GLU": "Glu",
    "Unfold": "Im2Col", "Fold": "Col2Im", "SlidingWindows": "Unfold",
    "WindowsGrad": "UnfoldBackward",
    "ScaledAdd": "Add", "ScaledSub": "Sub", "Log1p": "Log1P", "HalfScalarMul": "Mul",
    "HalfScalarDiv": "Div",
    "RFFT": "FftR2C", "IRFFT": "FftC2R", "FFTShift": "Roll",
    "MaxUnpool2d": "MaxUnpool2D", "MaxUnpool3d": "MaxUnpool3D",
    "Inv": "LinalgInvEx", "Det": "LinalgDet", "LogAbsDet": "LinalgSlogdet",
    "DetSign": "LinalgSlogdet", "Gammainc": "Igamma", "Gammaincc": "Igammac",
    # torch.special's own kernels: Special + the name
    "LogNdtr": "SpecialLogNdtr", "Entr": "SpecialEntr", "Erfcx": "SpecialErfcx",
    "I0e": "SpecialI0E", "I1": "SpecialI1", "I1e": "SpecialI1E", "Ndtri": "SpecialNdtri",
    "Zeta": "SpecialZeta", "Xlog1py": "SpecialXlog1Py",
    # torch.linalg's kernels: Linalg + the name (the _ex forms where torch's op is one)
    "Solve": "LinalgSolveEx", "Pinv": "LinalgPinv", "MatrixExp": "LinalgMatrixExp",
    "Eigh": "LinalgEigh", "Eigvalsh": "LinalgEigh", "SVD": "LinalgSvd", "Svdvals": "LinalgSvd",
    "Eig": "LinalgEig", "Eigvals": "LinalgEig", "QR": "LinalgQr",
    "Cholesky": "LinalgCholeskyEx", "LUFactor": "LinalgLuFactorEx",
    "SolveTriangular": "LinalgSolveTriangular", "PReLU": "PreluKernel",
    "AffineGrid": "AffineGridGenerator",
    # torch's x.real / x.imag: a select of view_as_real(x)
    "Real": "Select", "Imag": "Select",
}


def torch_name(op) -> str:
    """``op``'s name as torch's grad_fn.name() gives it for the same call."""
    if _renamed:
        try:
            named = _renamed.get(op)
        except TypeError:  # an unhashable node (a user's class with __eq__)
            named = None
        if named is not None:
            return named
    kind = type(op).__name__
    if kind.endswith("Backward"):  # an autograd.Function's node: "ExpBackward", as torch's
        return kind
    special = _SPECIAL.get(kind)
    if special is not None:
        return special(op)
    return class_name(kind)


# whole names: torch's 1-d pools are its 2-d ones between an unsqueeze and a squeeze
_WHOLE_NAMES = {"MaxPool1d": "SqueezeBackward1", "AvgPool1d": "SqueezeBackward1",
                "MaxUnpool1d": "SqueezeBackward1", "FloorDivide": "DivBackward2",
                "Ndtr": "MulBackward1",  # torch's ndtr: a composite ending in a mul
                # torch's composites: x - tanh(x), x * rsqrt(mean(x^2) + eps) (* weight)
                "Tanhshrink": "SubBackward0", "RMSNorm": "MulBackward0"}


def class_name(kind: str) -> str:
    """The name of a node of op class ``kind`` whose name does not depend on its settings."""
    whole = _WHOLE_NAMES.get(kind)
    return whole if whole is not None else f"{_NAMES.get(kind, kind)}Backward0"


def _ndims(op) -> tuple[int, ...]:
    return tuple(np.ndim(t.data) for t in op.inputs)


def _matmul(op) -> str:
    a, b = _ndims(op)[:2]
    if a == b == 2:
        return "MmBackward0"
    if a == b == 1:
        return "DotBackward0"
    if a == 2 and b == 1:
        return "MvBackward0"
    if a == 1 and b == 2:  # torch's (1, n) @ (n, p), squeezed
        return "SqueezeBackward4"
    if a == 2 and b > 2:  # torch's product of the transposes, copied back
        return "CloneBackward0"
    return "UnsafeViewBackward0"


def _fft(op) -> str:
    # torch's fft of a real input along one axis is an R2C transform, its ifft the conjugate
    # of one; every other complex transform is C2C
    if len(op.axes) == 1 and op.inputs[0].data.dtype.kind != "c":
        return "ConjBackward0" if op.inverse else "FftR2CBackward0"
    return "FftC2CBackward0"


def _linear(op) -> str:
    dims = _ndims(op)
    if dims == (1, 2):  # torch's (1, n) @ W.T, squeezed
        return "SqueezeBackward4"
    if dims[0] != 2:
        return "ViewBackward0" if len(dims) > 2 else "UnsafeViewBackward0"
    return "AddmmBackward0" if len(dims) > 2 else "MmBackward0"


def _transpose(op) -> str:
    named = getattr(op, "node_name", None)  # a scalar's transpose(0, -1) sets its own
    if named is not None:
        return named
    axes = tuple(getattr(op, "axes", ()) or ())
    moved = [i for i, a in enumerate(axes) if a != i]
    return "TransposeBackward0" if len(moved) == 2 else "PermuteBackward0"


def _reshape(op) -> str:
    return op.node_name  # ViewBackward0, or what unsqueeze/squeeze made it


def _getitem(op) -> str:
    if op.node_name is not None:
        return op.node_name
    index = getattr(op, "index", None)
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (np.ndarray, list)) for i in items):
        return "IndexBackward0"
    for item in reversed(items):  # torch applies the index item by item: the last one shows
        if isinstance(item, (int, np.integer)):
            return "SelectBackward0"
        if isinstance(item, slice) and item != slice(None):
            return "SliceBackward0"
        if item is None:
            return "UnsqueezeBackward0"
    return "AliasBackward0"


def _everything(op) -> bool:
    """Whether a reduction reduces over every axis (torch's overload without dim)."""
    given = getattr(op, "dim_given", None)
    if given is not None:
        return not given
    axes = getattr(op, "axes", None)
    return axes is None or (not getattr(op, "keepdims", False) and op.inputs
                            and len(tuple(axes)) == np.ndim(op.inputs[0].data))


def _reduction(op) -> str:
    """x.sum() is SumBackward0 and x.sum(dim) SumBackward1; x.max() MaxBackward1, x.amax()
    and x.amax(dim) AmaxBackward0 (told apart by the op's ``nan_share``, torch.max(x)'s)."""
    kind = type(op).__name__
    full = _everything(op)
    if kind in ("Max", "Min"):
        whole = getattr(op, "nan_share", full)
        return f"{kind}Backward1" if whole else "AmaxBackward0" if kind == "Max" \
            else "AminBackward0"
    return f"{kind}Backward{0 if full else 1}"


def _pow(op) -> str:
    """tensor ** tensor is PowBackward1, number ** tensor PowBackward2."""
    first = op.inputs[0] if op.inputs else None
    return "PowBackward1" if first is None or first.requires_grad else "PowBackward2"


def _sub(op) -> str:
    """number - tensor is torch's RsubBackward1."""
    first = op.inputs[0] if op.inputs else None
    if first is not None and not first.requires_grad and np.ndim(first.data) == 0:
        return "RsubBackward1"
    return "SubBackward0"


def _step(op) -> str:
    """sign, floor, ceil, round, trunc: SignBackward0, ...; round(decimals=) RoundBackward1; a
    rounding div sets its own name (DivBackward2)."""
    named = getattr(op, "node_name", None)
    if named is not None:
        return named
    kind = op.function.__name__.capitalize()
    return f"{kind}Backward{1 if op.decimals else 0}"


def _described(op) -> str:
    """Ops whose describe() tells torch's name (Tril / Triu, Fmod / Remainder)."""
    return f"{op.describe()}Backward0"


def _pad(op) -> str:
    """F.pad's node: ConstantPadNd, ReflectionPad{1,2,3}D, ReplicationPad{1,2,3}D; torch's
    circular pad copies slices."""
    if op.mode == "constant":
        return "ConstantPadNdBackward0"
    if op.mode == "circular":
        return "torch::autograd::CopySlices"
    kind = "Reflection" if op.mode == "reflect" else "Replication"
    return f"{kind}Pad{op.dims}DBackward0"


def _cross_entropy(op) -> str:
    """F.cross_entropy's node: torch's composite's last op for probabilities (the mean's
    division, else the negation) and label smoothing (an add); NllLoss, NllLoss2D for more
    than 2 axes (a view of it unreduced, but for 4)."""
    if getattr(op.labels, "dtype", np.dtype(np.int64)).kind not in "iu":
        return "DivBackward1" if op.reduction == "mean" else "NegBackward0"
    if op.smoothing:
        return "AddBackward0"
    ndim = np.ndim(op.inputs[0].data) if op.inputs else 2
    if ndim <= 2:
        return "NllLossBackward0"
    return "NllLoss2DBackward0" if ndim == 4 or op.reduction != "none" else "ViewBackward0"


_SPECIAL = {"Pad": _pad, "MatMul": _matmul, "Linear": _linear, "Transpose": _transpose,
            "Reshape": _reshape, "GetItem": _getitem, "_ScalarCopy": _getitem,
            "Triangle": _described,
            "Modulo": _described, "Sum": _reduction, "Mean": _reduction, "Max": _reduction,
            "Min": _reduction, "Pow": _pow, "Sub": _sub, "Step": _step,
            "Prod": lambda op: f"ProdBackward{0 if op.dim is None else 1}",
            "Clamp": lambda op: "HardtanhBackward0" if op.open_bounds else "ClampBackward1",
            "Shrink": lambda op: "SoftshrinkBackward0" if op.soft else "HardshrinkBackward0",
            "ScaledELU": lambda op: f"{op.kind}Backward0",
            "Gather": lambda op: op.node_name,
            "Where": lambda op: op.node_name,
            "CopySlices": lambda op: "torch::autograd::CopySlices",
            "ComplexCopySlices": lambda op: "torch::autograd::CopySlices",
            "ViewOfBase": lambda op: "AsStridedBackward0",
            "SlopeGrad": lambda op: op.node_name, "FFT": _fft,
            "Resample": lambda op: op.node_name,
            "Outputs": lambda op: op.node_name,  # split's, unbind's (ops/multi_output.py)
            "Joint": lambda op: op.node_name,  # var_mean's, aminmax's, slogdet's
            "SoftmaxCrossEntropy": _cross_entropy,
            "GridSample": lambda op: f"GridSampler{np.ndim(op.inputs[0].data) - 2}DBackward0"}
