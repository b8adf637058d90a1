"""torch's numpy-style keyword aliases: ``axis`` for ``dim``, ``keepdims`` for ``keepdim``,
``x``, ``a`` or ``x1`` for ``input`` and ``x2`` for ``other`` (``torch.sum(x, axis=0)``,
``x.sum(1, keepdims=True)``, ``torch.add(x1=a, x2=b)``, ``F.linear(x=v, weight=w)``).

torch's C++ argument parser takes them for every builtin it serves, and only there: the
``torch.<fn>`` functions, the ``Tensor`` methods and the nn.functional functions that are C++
builtins. Python-defined ones (``F.softmax``, ``Tensor.norm``, ``torch.norm``) refuse them with
a TypeError. Which names are builtins, and which of the four parameters each has in some
overload, is the data below, read from torch 2.13 at development time (its ``.pyi`` stubs of
``torch._C._VariableFunctions``, ``TensorBase`` and ``torch._C._nn``); torch is never imported.

``install()`` (called once, at the end of ``import dlpy``) goes through that data: where dlpy's
function takes an alias's parameter but not the alias itself (its own signature, or through
``__wrapped__`` for a forwarding wrapper), it puts in its place a wrapper that renames the alias
and calls it. A plain call, with no keyword or none of the aliases, costs the wrapper's one
frame and one test; a function that already takes every alias (``Tensor.sum``'s ``axis``) is
left as it is. As torch's, an alias of a parameter also given by name is refused (``TypeError:
sum() got an unexpected keyword argument 'axis'``), one also given by position is Python's
"multiple values" TypeError. The other way, ``REFUSE`` names dlpy's Python-level functions that
take ``axis``/``keepdims`` where torch's Python function of the same name does not: their
wrapper refuses those keywords, as torch's (F.softmax and F.log_softmax simply have no
``axis`` parameter).
"""

from __future__ import annotations

import functools
import types

# the aliases of each parameter, in torch's order (python_arg_parser.cpp's
# numpy_compatibility_arg_names)
ALIASES = {"dim": ("axis",), "keepdim": ("keepdims",), "input": ("x", "a", "x1"),
           "other": ("x2",)}

# torch 2.13's builtins, grouped by the aliased parameters they have (in some overload): the
# torch.<name> functions, the Tensor methods (``self`` is no ``input`` there) and
# nn.functional's builtins, one table each
TORCH_FUNCTIONS = {
    "dim": """
    cat concat concatenate cosine_similarity cumulative_trapezoid norm_except_dim stack
    trapezoid trapz""",
    "dim input": """
    argsort chunk count_nonzero cummax cummin cumprod cumsum diff gather gradient
    index_add index_copy index_fill index_reduce index_select log_softmax logcumsumexp
    narrow narrow_copy renorm repeat_interleave scatter scatter_add scatter_reduce
    select select_copy select_scatter slice_copy slice_inverse slice_scatter softmax
    sort split_copy split_with_sizes split_with_sizes_copy squeeze squeeze_copy
    take_along_dim tensor_split topk unbind unbind_copy unflatten unsafe_chunk
    unsafe_split unsafe_split_with_sizes unsqueeze unsqueeze_copy""",
    "dim input keepdim": """
    all amax amin aminmax any argmax argmin frobenius_norm hash_tensor kthvalue
    logsumexp mean median mode nanmean nanmedian nanquantile nansum native_norm
    nuclear_norm prod quantile std std_mean sum var var_mean""",
    "dim input keepdim other": """
    max min""",
    "dim input other": """
    cross""",
    "input": """
    abs abs_ absolute acos acos_ acosh acosh_ adaptive_avg_pool1d adaptive_max_pool1d
    addbmm addcdiv addcmul addmm addmv addmv_ addr adjoint alias_copy alpha_dropout
    alpha_dropout_ angle arccos arccos_ arccosh arccosh_ arcsin arcsin_ arcsinh arcsinh_
    arctan arctan_ arctanh arctanh_ argwhere as_strided as_strided_ as_strided_copy
    as_strided_scatter asin asin_ asinh asinh_ atan atan_ atanh atanh_ avg_pool1d
    baddbmm batch_norm batch_norm_backward_elemt batch_norm_backward_reduce
    batch_norm_elemt batch_norm_gather_stats batch_norm_gather_stats_with_counts
    batch_norm_stats batch_norm_update_stats bernoulli binary_cross_entropy_with_logits
    bincount bitwise_not bmm broadcast_to bucketize ccol_indices_copy ceil ceil_ celu
    celu_ channel_shuffle cholesky cholesky_inverse cholesky_solve
    choose_qparams_optimized clamp clamp_ clamp_max clamp_max_ clamp_min clamp_min_ clip
    clip_ clone col_indices_copy combinations conj conj_physical conj_physical_
    constant_pad_nd conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d
    conv_transpose3d convolution corrcoef cos cos_ cosh cosh_ cov crow_indices_copy
    cudnn_batch_norm cudnn_convolution cudnn_convolution_add_relu cudnn_convolution_relu
    cudnn_convolution_transpose cudnn_grid_sampler cudnn_is_acceptable deg2rad deg2rad_
    dequantize det detach detach_ detach_copy diag diag_embed diagflat diagonal
    diagonal_copy diagonal_scatter digamma dot dropout dropout_ dsmm dsplit
    embedding_renorm_ empty_like erf erf_ erfc erfc_ erfinv exp exp2 exp2_ exp_
    expand_copy expm1 expm1_ fake_quantize_per_channel_affine
    fake_quantize_per_tensor_affine fbgemm_linear_fp16_weight
    fbgemm_linear_fp16_weight_fp32_activation fbgemm_linear_int8_weight
    fbgemm_linear_int8_weight_fp32_activation fbgemm_linear_quantize_weight
    fbgemm_pack_gemm_matrix_fp16 fbgemm_pack_quantized_matrix feature_alpha_dropout
    feature_alpha_dropout_ feature_dropout feature_dropout_ fill fill_ fix fix_ flatten
    flip fliplr flipud float_power floor floor_ frac frac_ frexp full_like
    fused_moving_avg_obs_fake_quant geqrf ger grid_sampler grid_sampler_2d
    grid_sampler_3d group_norm gru gru_cell hardshrink heaviside hinge_embedding_loss
    histc histogram histogramdd hsmm hsplit i0 i0_ imag index_put index_put_
    indices_copy instance_norm int_repr inverse is_complex is_conj is_distributed
    is_floating_point is_inference is_neg is_nonzero is_signed isfinite isinf isnan
    isneginf isposinf isreal istft kl_div layer_norm lerp lgamma log log10 log10_ log1p
    log1p_ log2 log2_ log_ logdet logical_not logit logit_ lstm lstm_cell lu_solve
    masked_fill masked_scatter masked_select matrix_exp matrix_power max_pool1d
    max_pool1d_with_indices max_pool2d max_pool3d miopen_batch_norm miopen_convolution
    miopen_convolution_add_relu miopen_convolution_relu miopen_convolution_transpose
    miopen_depthwise_convolution miopen_rnn mkldnn_adaptive_avg_pool2d
    mkldnn_convolution mkldnn_linear_backward_weights mkldnn_max_pool2d
    mkldnn_max_pool3d mkldnn_rnn_layer mm moveaxis movedim msort multinomial mv mvlgamma
    nan_to_num nan_to_num_ native_batch_norm native_channel_shuffle native_dropout
    native_group_norm native_layer_norm neg neg_ negative negative_ nonzero
    nonzero_static ones_like orgqr ormqr outer pdist permute permute_copy pinverse
    pixel_shuffle pixel_unshuffle poisson poisson_nll_loss polygamma positive pow prelu
    put q_per_channel_axis q_per_channel_scales q_per_channel_zero_points q_scale
    q_zero_point qr quantize_per_channel quantize_per_tensor quantize_per_tensor_dynamic
    quantized_batch_norm quantized_gru_cell quantized_lstm_cell quantized_max_pool1d
    quantized_max_pool2d quantized_max_pool3d quantized_rnn_relu_cell
    quantized_rnn_tanh_cell rad2deg rad2deg_ rand_like randint_like randn_like ravel
    real reciprocal reciprocal_ relu relu_ reshape resize_as_ resize_as_sparse_
    resolve_conj resolve_neg rms_norm rnn_relu rnn_relu_cell rnn_tanh rnn_tanh_cell roll
    rot90 round round_ row_indices_copy rrelu rrelu_ rsqrt rsqrt_ saddmm searchsorted
    selu selu_ sgn sigmoid sigmoid_ sign signbit sin sin_ sinc sinc_ sinh sinh_ slogdet
    smm spmm sqrt sqrt_ square square_ sspaddmm svd swapaxes swapdims t t_copy take tan
    tan_ tanh tanh_ threshold threshold_ tile trace transpose transpose_copy
    triangular_solve tril triu trunc trunc_ unfold_copy values_copy view_as_complex
    view_as_complex_copy view_as_real view_as_real_copy view_copy vsplit zero_
    zeros_like""",
    "input other": """
    add allclose arctan2 atan2 bitwise_and bitwise_left_shift bitwise_or
    bitwise_right_shift bitwise_xor copysign dist div divide eq equal floor_divide fmax
    fmin fmod gcd gcd_ ge greater greater_equal gt hypot igamma igammac inner
    is_same_size isclose kron lcm lcm_ ldexp ldexp_ le less less_equal logaddexp
    logaddexp2 logical_and logical_or logical_xor lt matmul maximum minimum mul multiply
    ne nextafter not_equal remainder rsub sub subtract true_divide vdot where xlogy
    xlogy_""",
    "keepdim": """
    pairwise_distance""",
    "other": """
    result_type""",
}
TENSOR_METHODS = {
    "dim": """
    argsort chunk count_nonzero cummax cummin cumprod cumprod_ cumsum cumsum_ diff
    gather index_add index_add_ index_copy index_copy_ index_fill index_fill_
    index_reduce index_reduce_ index_select log_softmax logcumsumexp narrow narrow_copy
    renorm renorm_ repeat_interleave scatter scatter_ scatter_add scatter_add_
    scatter_reduce scatter_reduce_ select select_scatter size slice_inverse
    slice_scatter softmax sort split_with_sizes squeeze squeeze_ stride take_along_dim
    tensor_split topk unbind unsafe_chunk unsafe_split unsafe_split_with_sizes unsqueeze
    unsqueeze_""",
    "dim keepdim": """
    all amax amin aminmax any argmax argmin hash_tensor kthvalue logsumexp mean median
    mode nanmean nanmedian nanquantile nansum prod quantile std sum var""",
    "dim keepdim other": """
    max min""",
    "dim other": """
    cross""",
    "other": """
    add add_ allclose arctan2 arctan2_ atan2 atan2_ bitwise_and bitwise_and_
    bitwise_left_shift bitwise_left_shift_ bitwise_or bitwise_or_ bitwise_right_shift
    bitwise_right_shift_ bitwise_xor bitwise_xor_ copy_ copysign copysign_ dist div div_
    divide divide_ eq eq_ equal expand_as floor_divide floor_divide_ fmax fmin fmod
    fmod_ gcd gcd_ ge ge_ greater greater_ greater_equal greater_equal_ gt gt_ hypot
    hypot_ igamma igamma_ igammac igammac_ inner is_same_size isclose kron lcm lcm_
    ldexp ldexp_ le le_ less less_ less_equal less_equal_ logaddexp logaddexp2
    logical_and logical_and_ logical_or logical_or_ logical_xor logical_xor_ lt lt_ map_
    matmul maximum minimum mul mul_ multiply multiply_ ne ne_ new nextafter nextafter_
    not_equal not_equal_ remainder remainder_ reshape_as sub sub_ subtract subtract_ to
    true_divide true_divide_ type_as vdot view_as where xlogy xlogy_""",
}
FUNCTIONAL = {
    "dim": """
    cosine_similarity""",
    "input": """
    adaptive_avg_pool1d avg_pool1d avg_pool2d avg_pool3d celu_ channel_shuffle conv1d
    conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d conv_transpose3d elu_ gelu
    hardshrink hardtanh_ leaky_relu_ linear logsigmoid native_channel_shuffle pdist
    pixel_shuffle pixel_unshuffle prelu relu_ rrelu_ selu_ softplus softshrink
    threshold_""",
    "keepdim": """
    pairwise_distance""",
}


# dlpy's Python functions that take an alias where torch's Python function does not
REFUSE = {
    "torch": {"norm": ("axis", "keepdims")},
    "Tensor": {"norm": ("axis", "keepdims")},
    "F": {},  # (F.softmax, F.log_softmax: dlpy's own signature has no axis)
}


_VARARGS, _VARKEYWORDS = 0x04, 0x08  # (inspect.CO_VARARGS, CO_VARKEYWORDS)


def _names(table: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """{function name: its aliased parameters} from a table of groups."""
    return {name: tuple(key.split()) for key, names in table.items() for name in names.split()}


def _parameters(function, namesakes) -> tuple[list[str], set[str], bool]:
    """The positional parameter names and every parameter name ``function`` takes, and whether
    they are all known: a wrapper that forwards ``*args``/``**kwargs`` is followed through its
    ``__wrapped__``, else through the first of ``namesakes`` (the functional or Tensor method
    of its name: ``Tensor.cumsum`` calls ``functional.cumsum(self, ...)``, ``torch.gcd_``
    calls ``input.gcd_(...)``; ``self`` and ``input`` are both the first)."""
    positional: list[str] = []
    names: set[str] = set()
    seen = set()
    while isinstance(function, types.FunctionType) and function not in seen:
        seen.add(function)
        code = function.__code__
        count = code.co_argcount
        positional += code.co_varnames[len(positional):count]
        names.update(code.co_varnames[:count + code.co_kwonlyargcount])
        if not code.co_flags & (_VARARGS | _VARKEYWORDS):
            return positional, names, True
        function = getattr(function, "__wrapped__", None) or next(
            (f for f in namesakes if isinstance(f, types.FunctionType) and f not in seen), None)
    return positional, names, False


def _renames(function, parameters: tuple[str, ...], method: bool, namesakes) -> dict[str, str]:
    """{alias: the keyword dlpy's ``function`` takes for it} for the aliases it lacks: torch's
    name where dlpy's function has it (or where its parameters are not all known), else the
    parameter in its place (``input`` first, ``other`` second)."""
    positional, names, known = _parameters(function, namesakes)
    renames = {}
    for parameter in parameters:
        if parameter in names or not known:
            target = parameter
        elif parameter == "input":
            target = (positional[0] if positional[0] != "self" else "input") if positional \
                else None
        elif parameter == "other":
            target = positional[1] if len(positional) > 1 else None
        else:  # dim, keepdim: dlpy's numpy names are native in places (Tensor.sum's axis)
            target = None
        if target is None or (method and parameter == "input"):
            continue
        for alias in ALIASES[parameter]:
            if alias not in names:
                renames[alias] = target
    return renames


def _rename(name: str, renames: dict[str, str], kwargs: dict) -> dict:
    """``kwargs`` with each alias of ``renames`` under dlpy's keyword (an alias of a keyword
    also given is torch's TypeError)."""
    for alias in [alias for alias in kwargs if alias in renames]:
        target = renames[alias]
        if target in kwargs:  # torch's: the alias is then an unknown keyword
            raise TypeError(f"{name}() got an unexpected keyword argument '{alias}'")
        kwargs[target] = kwargs.pop(alias)
    return kwargs


_SHARED: dict[tuple, tuple[dict, frozenset]] = {}  # one renames dict per distinct mapping


def _aliasing(function, renames: dict[str, str]):
    """``function`` taking the aliases in ``renames`` ({alias: dlpy's keyword}); the plain
    call is passed on as it is."""
    renames, aliases = _SHARED.setdefault(tuple(sorted(renames.items())),
                                          (renames, frozenset(renames)))

    def call(*args, **kwargs):
        if not kwargs:  # (no empty dict passed on)
            return function(*args)
        if not aliases.isdisjoint(kwargs):
            kwargs = _rename(function.__name__, renames, kwargs)
        return function(*args, **kwargs)

    return functools.update_wrapper(call, function)


def _refusing(function, refused: tuple[str, ...]):
    """``function`` refusing the keywords ``refused``, as torch's Python function does."""
    name = function.__name__

    def call(*args, **kwargs):
        if kwargs:
            for alias in refused:
                if alias in kwargs:
                    raise TypeError(f"{name}() got an unexpected keyword argument '{alias}'")
        return function(*args, **kwargs)

    return functools.update_wrapper(call, function)


def _install(get, put, table: dict[str, str], refuse: dict, method: bool, namesakes) -> None:
    """Wrap each function of ``table`` found through ``get`` that lacks an alias (``namesakes``:
    name -> the functions a forwarder without ``__wrapped__`` may call)."""
    for name, parameters in _names(table).items():
        function = get(name)
        if not isinstance(function, types.FunctionType):  # absent, a class, a builtin
            continue
        renames = _renames(function, parameters, method, namesakes(name))
        if renames:
            put(name, _aliasing(function, renames))
    for name, refused in refuse.items():
        function = get(name)
        if isinstance(function, types.FunctionType):
            put(name, _refusing(function, refused))


def install() -> None:
    """Give dlpy's torch namespace, Tensor's methods and nn.functional torch's aliases (once,
    at the end of ``import dlpy``)."""
    import dlpy
    from dlpy import functional
    from dlpy.tensor import Tensor

    def method(name: str):  # Tensor's own or inherited (its Python base classes')
        return next((cls.__dict__[name] for cls in Tensor.__mro__ if name in cls.__dict__), None)

    _install(dlpy.__dict__.get, lambda name, f: setattr(dlpy, name, f), TORCH_FUNCTIONS,
             REFUSE["torch"], False, lambda name: (functional.__dict__.get(name), method(name)))
    _install(method, lambda name, f: setattr(Tensor, name, f), TENSOR_METHODS,
             REFUSE["Tensor"], True, lambda name: (functional.__dict__.get(name),))
    _install(functional.__dict__.get, lambda name, f: setattr(functional, name, f), FUNCTIONAL,
             REFUSE["F"], False, lambda name: ())
