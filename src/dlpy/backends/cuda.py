"""``torch.backends.cuda``: the matmul and scaled-dot-product-attention switches as settable
flags (no CUDA in dlpy, so they change nothing)."""

from __future__ import annotations

__all__ = ["cufft_plan_cache", "enable_cudnn_sdp", "enable_flash_sdp", "enable_math_sdp",
           "enable_mem_efficient_sdp", "flash_sdp_enabled", "is_built", "math_sdp_enabled",
           "matmul", "mem_efficient_sdp_enabled", "preferred_linalg_library"]


class _Matmul:
    """``torch.backends.cuda.matmul``: allow_tf32 (False), allow_fp16/bf16 reduced precision
    reduction (True), as torch's defaults. allow_tf32 is the float32 matmul precision seen as a
    flag, as torch's: True is 'high' (or 'medium'), False 'highest'."""

    def __init__(self) -> None:
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self) -> bool:
        from dlpy import torch_misc

        return torch_misc.get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        from dlpy import torch_misc

        if not isinstance(value, bool):
            raise RuntimeError(f"set_allow_tf32_cublas expects a bool, but got "
                               f"{type(value).__name__}")
        torch_misc.set_float32_matmul_precision("high" if value else "highest")

    def __repr__(self) -> str:
        return f"matmul(allow_tf32={self.allow_tf32})"


class _PlanCache:
    size = 0
    max_size = 0

    def clear(self) -> None:
        """No-op."""


matmul = _Matmul()
cufft_plan_cache = _PlanCache()
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built() -> bool:
    """False: dlpy is not built with CUDA."""
    return False


def preferred_linalg_library(backend=None) -> str:
    """The linear algebra library: always numpy's LAPACK in dlpy."""
    return "default"


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def math_sdp_enabled() -> bool:
    return _sdp["math"]


def enable_cudnn_sdp(enabled: bool) -> None:
    _sdp["cudnn"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    return _sdp["cudnn"]


def is_flash_attention_available() -> bool:
    """False: no CUDA, so no flash-attention kernel (torch's answer on a CPU-only build)."""
    return False


def fp16_bf16_reduction_math_sdp_allowed() -> bool:
    """Whether the math SDPA kernel may reduce in float16/bfloat16 (False at start, as
    torch's); dlpy's kernel reduces in the inputs' dtype either way."""
    return _sdp.get("fp16_bf16_reduction_math", False)


def allow_fp16_bf16_reduction_math_sdp(enabled: bool) -> None:
    """Set the flag read by ``fp16_bf16_reduction_math_sdp_allowed`` (changes nothing)."""
    _sdp["fp16_bf16_reduction_math"] = bool(enabled)


class SDPAParams:
    """torch.backends.cuda.SDPAParams: the arguments of one scaled_dot_product_attention call
    (query, key, value, attn_mask, dropout, is_causal, enable_gqa, all seven positional),
    read-only, as given to the ``can_use_*`` checks."""

    __slots__ = ("_query", "_key", "_value", "_attn_mask", "_dropout", "_is_causal",
                 "_enable_gqa")

    def __init__(self, query, key, value, attn_mask, dropout, is_causal, enable_gqa) -> None:
        from dlpy.tensor import Tensor

        if not (all(isinstance(t, Tensor) for t in (query, key, value))
                and (attn_mask is None or isinstance(attn_mask, Tensor))
                and isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
                and isinstance(is_causal, (bool, int)) and isinstance(enable_gqa, (bool, int))):
            raise TypeError("SDPAParams.__init__(): incompatible constructor arguments: expected "
                            "(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | "
                            "None, dropout: float, is_causal: bool, enable_gqa: bool)")
        self._query, self._key, self._value, self._attn_mask = query, key, value, attn_mask
        self._dropout = float(dropout)
        self._is_causal, self._enable_gqa = bool(is_causal), bool(enable_gqa)

    query = property(lambda self: self._query)
    key = property(lambda self: self._key)
    value = property(lambda self: self._value)
    attn_mask = property(lambda self: self._attn_mask)
    dropout = property(lambda self: self._dropout)
    is_causal = property(lambda self: self._is_causal)
    enable_gqa = property(lambda self: self._enable_gqa)


def _fused_check(name: str, params, debug: bool) -> bool:
    if not isinstance(params, SDPAParams) or not isinstance(debug, (bool, int)):
        raise TypeError(f"{name}(): incompatible function arguments: expected "
                        f"(params: SDPAParams, debug: bool = False)")
    return False


def can_use_flash_attention(params: SDPAParams, debug: bool = False) -> bool:
    """Whether the flash-attention kernel could run ``params``: never in dlpy (no CUDA), as on
    a CPU-only torch."""
    return _fused_check("can_use_flash_attention", params, debug)


def can_use_efficient_attention(params: SDPAParams, debug: bool = False) -> bool:
    """Whether the memory-efficient kernel could run ``params``: never in dlpy (no CUDA)."""
    return _fused_check("can_use_efficient_attention", params, debug)


def can_use_cudnn_attention(params: SDPAParams, debug: bool = False) -> bool:
    """Whether the cuDNN attention kernel could run ``params``: never in dlpy (no cuDNN)."""
    return _fused_check("can_use_cudnn_attention", params, debug)


__all__ += ["SDPAParams", "allow_fp16_bf16_reduction_math_sdp", "can_use_cudnn_attention",
            "can_use_efficient_attention", "can_use_flash_attention", "cudnn_sdp_enabled",
            "fp16_bf16_reduction_math_sdp_allowed", "is_flash_attention_available"]
