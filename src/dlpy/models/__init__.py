"""Transformer language models in Hugging Face ``transformers``' layout, written with dlpy's
own layers: the same module names, so a ``transformers`` checkpoint directory (``config.json``
+ ``model.safetensors`` or ``pytorch_model.bin``) loads with ``from_pretrained`` and gives the
same logits.

    gpt2, llama (+ Mistral, Qwen2)   decoders: causal LM, KV cache, generate
    mixtral, phi3, gemma, gpt_neox   more decoders: MoE, fused projections, Gemma 1/2, NeoX
    qwen3                            Qwen3 (q/k norms per head) and Qwen3-MoE
    bert, roberta, distilbert        encoders: masked LM, classification heads
    t5, bart                         encoder-decoders: seq2seq LM, generate
    vit, clip, whisper               vision and speech: image classification, zero-shot, speech
                                     recognition (image_processing, feature_extraction)
    modeling_utils                   what they share: config base, outputs, checks, loading
    auto                             AutoConfig, AutoModel..., AutoTokenizer (by model_type)
    generation, tokenizer            GenerationMixin.generate; tokenizer.json tokenizers

Submodules are imported on first use; the Auto classes are also here (``dlpy.models.AutoModel``).
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("gpt2", "llama", "mixtral", "phi3", "gemma", "gpt_neox", "qwen3", "bert", "roberta",
               "distilbert", "t5", "bart", "vit", "clip", "whisper", "image_processing",
               "feature_extraction", "generation", "tokenizer", "auto", "modeling_utils",
               "pipelines")
_AUTO = ("AutoConfig", "AutoFeatureExtractor", "AutoImageProcessor", "AutoModel",
         "AutoModelForCausalLM", "AutoModelForImageClassification", "AutoModelForMaskedLM",
         "AutoModelForQuestionAnswering", "AutoModelForSeq2SeqLM",
         "AutoModelForSequenceClassification", "AutoModelForSpeechSeq2Seq",
         "AutoModelForTokenClassification", "AutoModelForZeroShotImageClassification",
         "AutoTokenizer")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _AUTO:
        return getattr(importlib.import_module(f"{__name__}.auto"), name)
    if name == "pipeline":
        return importlib.import_module(f"{__name__}.pipelines").pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + list(_AUTO) + ["pipeline"])
