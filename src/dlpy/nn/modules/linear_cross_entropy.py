"""``torch.nn.modules.linear_cross_entropy``: torch's holds only the private pieces of its
chunked kernel (dlpy's is dlpy.ops.linear_cross_entropy); LinearCrossEntropyLoss is
``torch.nn.modules.loss``'s."""


__all__: list[str] = []
