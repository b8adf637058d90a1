"""torch.fx.experimental.proxy_tensor: the dispatch-mode tracer behind make_fx / torch.export.
dlpy's fx traces with Proxy objects (dlpy.fx.symbolic_trace), never with a proxy dispatch
mode, so none is ever active."""

__all__ = ["get_proxy_mode"]


def get_proxy_mode():
    """torch.fx.experimental.proxy_tensor.get_proxy_mode: the active proxy tracing mode, or
    None when not tracing; always None in dlpy, which has no such mode."""
    return None
