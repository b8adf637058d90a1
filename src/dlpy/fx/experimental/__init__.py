"""torch.fx.experimental: optimization.fuse (conv/linear + batch norm)."""
