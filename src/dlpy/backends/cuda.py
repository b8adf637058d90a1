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
