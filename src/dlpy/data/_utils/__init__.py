"""torch.utils.data._utils: the collate module older programs import from (imported with the
package, as torch's: ``torch.utils.data._utils.collate.default_collate`` needs no import)."""

from dlpy.data._utils import collate

__all__ = ["collate"]
