"""How torch.fx records a call of torch.nn.functional's Python functions: each hands its
arguments to ``handle_torch_function`` with the required ones positional and every other one
by keyword, defaults filled in (``F.softmax(x, -1)`` is ``softmax(x, dim = -1, _stacklevel = 3,
dtype = None)``), so the node's args and kwargs are those, whatever the caller wrote.

FORMS maps a function's name to its parameters as torch 2.13 declares them: a required one by
name, a defaulted one as (name, default); a "*" marks where keyword-only ones begin. Read from
torch's sources once (torch is not needed to use it). Functions that are torch builtins
(F.linear, F.gelu, F.conv2d...) record their arguments as given and are not here."""

from __future__ import annotations

import inspect
from typing import Any

FORMS: dict[str, tuple] = {
    "adaptive_avg_pool2d": ("input", "output_size",),
    "adaptive_avg_pool3d": ("input", "output_size",),
    "adaptive_max_pool1d": ("input", "output_size", ("return_indices", False),),
    "adaptive_max_pool1d_with_indices": ("input", "output_size", ("return_indices", False),),
    "adaptive_max_pool2d": ("input", "output_size", ("return_indices", False),),
    "adaptive_max_pool2d_with_indices": ("input", "output_size", ("return_indices", False),),
    "adaptive_max_pool3d": ("input", "output_size", ("return_indices", False),),
    "adaptive_max_pool3d_with_indices": ("input", "output_size", ("return_indices", False),),
    "affine_grid": ("theta", "size", ("align_corners", None),),
    "alpha_dropout": ("input", ("p", 0.5), ("training", False), ("inplace", False),),
    "batch_norm": ("input", "running_mean", "running_var", ("weight", None), ("bias", None),
        ("training", False), ("momentum", 0.1), ("eps", 1e-05),),
    "binary_cross_entropy": ("input", "target", ("weight", None), ("size_average", None),
        ("reduce", None), ("reduction", "mean"),),
    "binary_cross_entropy_with_logits": ("input", "target", ("weight", None),
        ("size_average", None), ("reduce", None), ("reduction", "mean"), ("pos_weight", None),),
    "celu": ("input", ("alpha", 1.0), ("inplace", False),),
    "cosine_embedding_loss": ("input1", "input2", "target", ("margin", 0), ("size_average", None),
        ("reduce", None), ("reduction", "mean"),),
    "cross_entropy": ("input", "target", ("weight", None), ("size_average", None),
        ("ignore_index", -100), ("reduce", None), ("reduction", "mean"), ("label_smoothing", 0.0),),
    "ctc_loss": ("log_probs", "targets", "input_lengths", "target_lengths", ("blank", 0),
        ("reduction", "mean"), ("zero_infinity", False),),
    "dropout": ("input", ("p", 0.5), ("training", True), ("inplace", False),),
    "dropout1d": ("input", ("p", 0.5), ("training", True), ("inplace", False),),
    "dropout2d": ("input", ("p", 0.5), ("training", True), ("inplace", False),),
    "dropout3d": ("input", ("p", 0.5), ("training", True), ("inplace", False),),
    "elu": ("input", ("alpha", 1.0), ("inplace", False),),
    "embedding": ("input", "weight", ("padding_idx", None), ("max_norm", None),
        ("norm_type", 2.0), ("scale_grad_by_freq", False), ("sparse", False),),
    "embedding_bag": ("input", "weight", ("offsets", None), ("max_norm", None), ("norm_type", 2),
        ("scale_grad_by_freq", False), ("mode", "mean"), ("sparse", False),
        ("per_sample_weights", None), ("include_last_offset", False), ("padding_idx", None),),
    "feature_alpha_dropout": ("input", ("p", 0.5), ("training", False), ("inplace", False),),
    "fold": ("input", "output_size", "kernel_size", ("dilation", 1), ("padding", 0),
        ("stride", 1),),
    "fractional_max_pool2d_with_indices": ("input", "kernel_size", ("output_size", None),
        ("output_ratio", None), ("return_indices", False), ("_random_samples", None),),
    "fractional_max_pool3d_with_indices": ("input", "kernel_size", ("output_size", None),
        ("output_ratio", None), ("return_indices", False), ("_random_samples", None),),
    "gaussian_nll_loss": ("input", "target", "var", ("full", False), ("eps", 1e-06),
        ("reduction", "mean"),),
    "glu": ("input", ("dim", -1),),
    "grid_sample": ("input", "grid", ("mode", "bilinear"), ("padding_mode", "zeros"),
        ("align_corners", None),),
    "group_norm": ("input", "num_groups", ("weight", None), ("bias", None), ("eps", 1e-05),),
    "gumbel_softmax": ("logits", ("tau", 1), ("hard", False), ("eps", 1e-10), ("dim", -1),),
    "hardsigmoid": ("input", ("inplace", False),),
    "hardswish": ("input", ("inplace", False),),
    "hardtanh": ("input", ("min_val", -1.0), ("max_val", 1.0), ("inplace", False),),
    "hinge_embedding_loss": ("input", "target", ("margin", 1.0), ("size_average", None),
        ("reduce", None), ("reduction", "mean"),),
    "huber_loss": ("input", "target", ("reduction", "mean"), ("delta", 1.0), ("weight", None),),
    "instance_norm": ("input", ("running_mean", None), ("running_var", None), ("weight", None),
        ("bias", None), ("use_input_stats", True), ("momentum", 0.1), ("eps", 1e-05),),
    "kl_div": ("input", "target", ("size_average", None), ("reduce", None), ("reduction", "mean"),
        ("log_target", False),),
    "l1_loss": ("input", "target", ("size_average", None), ("reduce", None),
        ("reduction", "mean"), ("weight", None),),
    "layer_norm": ("input", "normalized_shape", ("weight", None), ("bias", None), ("eps", 1e-05),),
    "leaky_relu": ("input", ("negative_slope", 0.01), ("inplace", False),),
    "linear_cross_entropy": ("input", "linear_weight", "target", "*", ("linear_bias", None),
        ("weight", None), ("reduction", "mean"), ("ignore_index", None), ("label_smoothing", 0.0),
        ("options", None),),
    "local_response_norm": ("input", "size", ("alpha", 0.0001), ("beta", 0.75), ("k", 1.0),),
    "log_softmax": ("input", ("dim", None), ("_stacklevel", 3), ("dtype", None),),
    "lp_pool1d": ("input", "norm_type", "kernel_size", ("stride", None), ("ceil_mode", False),),
    "lp_pool2d": ("input", "norm_type", "kernel_size", ("stride", None), ("ceil_mode", False),),
    "lp_pool3d": ("input", "norm_type", "kernel_size", ("stride", None), ("ceil_mode", False),),
    "margin_ranking_loss": ("input1", "input2", "target", ("margin", 0), ("size_average", None),
        ("reduce", None), ("reduction", "mean"),),
    "max_pool1d": ("input", "kernel_size", ("stride", None), ("padding", 0), ("dilation", 1),
        ("ceil_mode", False), ("return_indices", False),),
    "max_pool1d_with_indices": ("input", "kernel_size", ("stride", None), ("padding", 0),
        ("dilation", 1), ("ceil_mode", False), ("return_indices", False),),
    "max_pool2d": ("input", "kernel_size", ("stride", None), ("padding", 0), ("dilation", 1),
        ("ceil_mode", False), ("return_indices", False),),
    "max_pool2d_with_indices": ("input", "kernel_size", ("stride", None), ("padding", 0),
        ("dilation", 1), ("ceil_mode", False), ("return_indices", False),),
    "max_pool3d": ("input", "kernel_size", ("stride", None), ("padding", 0), ("dilation", 1),
        ("ceil_mode", False), ("return_indices", False),),
    "max_pool3d_with_indices": ("input", "kernel_size", ("stride", None), ("padding", 0),
        ("dilation", 1), ("ceil_mode", False), ("return_indices", False),),
    "max_unpool1d": ("input", "indices", "kernel_size", ("stride", None), ("padding", 0),
        ("output_size", None),),
    "max_unpool2d": ("input", "indices", "kernel_size", ("stride", None), ("padding", 0),
        ("output_size", None),),
    "max_unpool3d": ("input", "indices", "kernel_size", ("stride", None), ("padding", 0),
        ("output_size", None),),
    "mish": ("input", ("inplace", False),),
    "mse_loss": ("input", "target", ("size_average", None), ("reduce", None),
        ("reduction", "mean"), ("weight", None),),
    "multi_margin_loss": ("input", "target", ("p", 1), ("margin", 1.0), ("weight", None),
        ("size_average", None), ("reduce", None), ("reduction", "mean"),),
    "multilabel_margin_loss": ("input", "target", ("size_average", None), ("reduce", None),
        ("reduction", "mean"),),
    "multilabel_soft_margin_loss": ("input", "target", ("weight", None), ("size_average", None),
        ("reduce", None), ("reduction", "mean"),),
    "nll_loss": ("input", "target", ("weight", None), ("size_average", None),
        ("ignore_index", -100), ("reduce", None), ("reduction", "mean"),),
    "normalize": ("input", ("p", 2.0), ("dim", 1), ("eps", 1e-12), ("out", None),),
    "pad": ("input", "pad", ("mode", "constant"), ("value", None),),
    "poisson_nll_loss": ("input", "target", ("log_input", True), ("full", False),
        ("size_average", None), ("eps", 1e-08), ("reduce", None), ("reduction", "mean"),),
    "relu": ("input", ("inplace", False),),
    "relu6": ("input", ("inplace", False),),
    "rms_norm": ("input", "normalized_shape", ("weight", None), ("eps", None),),
    "rrelu": ("input", ("lower", 0.125), ("upper", 0.3333333333333333), ("training", False),
        ("inplace", False),),
    "selu": ("input", ("inplace", False),),
    "silu": ("input", ("inplace", False),),
    "smooth_l1_loss": ("input", "target", ("size_average", None), ("reduce", None),
        ("reduction", "mean"), ("beta", 1.0),),
    "soft_margin_loss": ("input", "target", ("size_average", None), ("reduce", None),
        ("reduction", "mean"),),
    "softmax": ("input", ("dim", None), ("_stacklevel", 3), ("dtype", None),),
    "softmin": ("input", ("dim", None), ("_stacklevel", 3), ("dtype", None),),
    "softsign": ("input",),
    "tanhshrink": ("input",),
    "triplet_margin_loss": ("anchor", "positive", "negative", ("margin", 1.0), ("p", 2),
        ("eps", 1e-06), ("swap", False), ("size_average", None), ("reduce", None),
        ("reduction", "mean"),),
    "triplet_margin_with_distance_loss": ("anchor", "positive", "negative", "*",
        ("distance_function", None), ("margin", 1.0), ("swap", False), ("reduction", "mean"),),
    "unfold": ("input", "kernel_size", ("dilation", 1), ("padding", 0), ("stride", 1),),
}
# F.max_pool1d & co. dispatch on return_indices to functions recording as the _with_indices
# ones do; F.l1_loss hands over no weight (torch's)
_NOT_HANDED = {"l1_loss": {"weight"}}
_SIGNATURES: dict[str, inspect.Signature] = {}


def _signature(name: str) -> inspect.Signature:
    signature = _SIGNATURES.get(name)
    if signature is None:
        kind, parameters = inspect.Parameter.POSITIONAL_OR_KEYWORD, []
        for item in FORMS[name]:
            if item == "*":
                kind = inspect.Parameter.KEYWORD_ONLY
            elif isinstance(item, str):
                parameters.append(inspect.Parameter(item, kind))
            else:
                parameters.append(inspect.Parameter(item[0], kind, default=item[1]))
        signature = _SIGNATURES[name] = inspect.Signature(parameters)
    return signature


def functional_name(function: Any) -> str | None:
    """``function``'s name when it is one of dlpy.functional's functions (the module's
    attribute may be the tracer's recording wrapper of it while a trace runs), else None."""
    import dlpy.functional
    from dlpy.fx._symbolic_trace import _ORIGINALS

    name = getattr(function, "__name__", None)
    found = getattr(dlpy.functional, name, None) if isinstance(name, str) else None
    return name if found is not None and _ORIGINALS.get(id(found), found) is function else None


def recorded_call(name: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The (args, kwargs) torch.fx records for ``F.<name>(*args, **kwargs)``; the call as given
    when ``name`` is none of FORMS or the arguments do not bind (the call then fails as it
    would)."""
    if name not in FORMS:
        return args, kwargs
    signature = _signature(name)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs
    bound.apply_defaults()
    left_out = _NOT_HANDED.get(name, set())
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.default is inspect.Parameter.empty:
            positional.append(bound.arguments[parameter.name])
        elif parameter.name not in left_out:
            keywords[parameter.name] = bound.arguments[parameter.name]
    return tuple(positional), keywords



def given_call(name: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The call of ``F.<name>`` back without the keywords ``recorded_call`` filled in at their
    defaults (what a decomposition written for the function as users call it takes)."""
    if name not in FORMS:
        return args, kwargs
    defaults = {p.name: p.default for p in _signature(name).parameters.values()}

    def at_default(key: str, value: Any) -> bool:  # a plain value (a Proxy compared records)
        default = defaults.get(key, inspect.Parameter.empty)
        return value is default or type(value) is type(default) \
            and isinstance(value, (bool, int, float, str)) and value == default

    return args, {k: v for k, v in kwargs.items() if not at_default(k, v)}
