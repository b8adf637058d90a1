"""torch.utils.model_zoo: the old home of ``load_url`` (torch.hub's
``load_state_dict_from_url``, the same function)."""

from dlpy.hub import load_state_dict_from_url as load_url

__all__ = ["load_url"]
