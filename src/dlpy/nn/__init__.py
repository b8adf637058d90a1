"""Layers with their parameters inside: Module, Parameter and the layers."""

from dlpy.nn.linear import GELU, Identity, Linear, ReLU, Sigmoid, Tanh
from dlpy.nn.module import Module, Parameter, load_npz, read_meta, save_npz
from dlpy.nn.norm import Dropout, LayerNorm

__all__ = [
    "GELU", "Dropout", "Identity", "LayerNorm", "Linear", "Module", "Parameter", "ReLU",
    "Sigmoid", "Tanh", "load_npz", "read_meta", "save_npz",
]
