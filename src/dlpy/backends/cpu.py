"""``torch.backends.cpu``: the CPU's vector instruction set as torch reports it."""

__all__ = ["get_cpu_capability"]


def get_cpu_capability() -> str:
    """numpy picks its own SIMD kernels at run time, so dlpy reports torch's baseline name."""
    return "DEFAULT"
