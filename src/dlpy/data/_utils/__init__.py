"""torch.utils.data._utils: the collate module older programs import from."""
