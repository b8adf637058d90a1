"""torch.fx.proxy's names: ``Proxy``, ``Attribute``, ``TraceError`` (``except
torch.fx.proxy.TraceError``) and ``GraphAppendingTracer`` (Proxies made on a bare Graph);
they live in dlpy.fx._symbolic_trace."""

from dlpy.fx._symbolic_trace import Attribute, GraphAppendingTracer, Proxy, TraceError

__all__ = ["Attribute", "GraphAppendingTracer", "Proxy", "TraceError"]
