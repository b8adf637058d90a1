"""torch.fx.proxy's names: ``Proxy``, ``Attribute`` and ``TraceError`` (``except
torch.fx.proxy.TraceError``); they live in dlpy.fx._symbolic_trace."""

from dlpy.fx._symbolic_trace import Attribute, Proxy, TraceError

__all__ = ["Attribute", "Proxy", "TraceError"]
