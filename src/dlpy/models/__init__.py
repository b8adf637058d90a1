"""Transformer language models in Hugging Face ``transformers``' layout, written with dlpy's
own layers: the same module names, so a ``transformers`` checkpoint directory (``config.json``
+ ``model.safetensors`` or ``pytorch_model.bin``) loads with ``from_pretrained`` and gives the
same logits. Submodules are imported on first use."""

from __future__ import annotations

import importlib

_SUBMODULES = ("gpt2", "llama", "bert", "roberta", "distilbert", "t5", "bart", "generation",
               "tokenizer")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
