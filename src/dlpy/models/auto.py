"""The Auto classes: the right config and model class for a checkpoint directory, chosen by its
``config.json`` as transformers chooses: ``model_type`` names the family ("bert", "llama"...),
the Auto class names the head. A config.json without ``model_type`` is read by the class
named in its ``architectures``.

    model = AutoModelForCausalLM.from_pretrained("path/to/gpt2")   # a GPT2LMHeadModel
    tokenizer = AutoTokenizer.from_pretrained("path/to/gpt2")

Only local directories are read: nothing is downloaded.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import ClassVar

from dlpy.models import _hf

__all__ = ["AutoConfig", "AutoFeatureExtractor", "AutoImageProcessor", "AutoModel",
           "AutoModelForCausalLM", "AutoModelForImageClassification", "AutoModelForMaskedLM",
           "AutoModelForQuestionAnswering", "AutoModelForSeq2SeqLM",
           "AutoModelForSequenceClassification", "AutoModelForSpeechSeq2Seq",
           "AutoModelForTokenClassification", "AutoModelForZeroShotImageClassification",
           "AutoTokenizer"]

# model_type -> "module.Class", the module under dlpy.models (imported on first use)
CONFIGS = {
    "bert": "bert.BertConfig", "roberta": "roberta.RobertaConfig",
    "distilbert": "distilbert.DistilBertConfig", "gpt2": "gpt2.GPT2Config",
    "llama": "llama.LlamaConfig", "mistral": "llama.MistralConfig",
    "qwen2": "llama.Qwen2Config", "t5": "t5.T5Config", "bart": "bart.BartConfig",
    "mixtral": "mixtral.MixtralConfig", "phi3": "phi3.Phi3Config",
    "gemma": "gemma.GemmaConfig", "gemma2": "gemma.Gemma2Config",
    "gpt_neox": "gpt_neox.GPTNeoXConfig", "qwen3": "qwen3.Qwen3Config",
    "qwen3_moe": "qwen3.Qwen3MoeConfig",
    "vit": "vit.ViTConfig", "clip": "clip.CLIPConfig", "clip_text_model": "clip.CLIPTextConfig",
    "clip_vision_model": "clip.CLIPVisionConfig", "whisper": "whisper.WhisperConfig",
}


def _load(target: str):
    module, name = target.rsplit(".", 1)
    return getattr(importlib.import_module(f"dlpy.models.{module}"), name)


def _supported(mapping: dict) -> str:
    return ", ".join(sorted(mapping))


class AutoConfig:
    """The config class of a ``model_type``: ``AutoConfig.from_pretrained(path)`` reads
    config.json into a BertConfig, a LlamaConfig..."""

    @staticmethod
    def from_dict(values: dict, source: str = "config"):
        """The config of ``values`` (a config.json dict, or a config's ``to_dict()``)."""
        if not isinstance(values, dict):
            raise TypeError(f"{source}: expected a dict, got {type(values).__name__}")
        return _load(CONFIGS[_model_type(values, source)]).from_dict(values, source)

    @staticmethod
    def from_pretrained(path: str | os.PathLike):
        """The config of the checkpoint directory ``path``."""
        values = _hf.read_config(path)
        return AutoConfig.from_dict(values, os.path.join(os.fspath(path), _hf.CONFIG))

    @staticmethod
    def for_model(model_type: str, **fields):
        """A new config of ``model_type`` with ``fields`` (the rest at their defaults)."""
        if model_type not in CONFIGS:
            raise ValueError(f"AutoConfig: model_type {model_type!r} is not supported; "
                             f"dlpy.models reads {_supported(CONFIGS)}")
        return _load(CONFIGS[model_type])(**fields)


def _model_type(values: dict, source: str) -> str:
    """config.json's model_type, or the one of the class its ``architectures`` names."""
    model_type = values.get("model_type")
    if model_type is None:
        names = values.get("architectures") or []
        for mapping in _MAPPINGS:
            for kind, target in mapping.items():
                if target.rsplit(".", 1)[1] in names:
                    return kind
        raise ValueError(f"{source}: no model_type, and no architectures naming a model dlpy "
                         f"has (got {names}); dlpy.models reads {_supported(CONFIGS)}")
    if model_type not in CONFIGS:
        raise ValueError(f"{source}: model_type {model_type!r} is not supported; dlpy.models "
                         f"reads {_supported(CONFIGS)}")
    return model_type


class _AutoModel:
    """One head's model class for each model_type (``mapping``)."""

    mapping: ClassVar[dict[str, str]] = {}

    def __init__(self):
        raise TypeError(f"{type(self).__name__} is not built: use "
                        f"{type(self).__name__}.from_pretrained(path) or .from_config(config)")

    @classmethod
    def model_class(cls, model_type: str, source: str = "config"):
        """The model class for ``model_type``, or an error listing the supported ones."""
        if model_type not in cls.mapping:
            raise ValueError(f"{source}: {cls.__name__} has no model for model_type "
                             f"{model_type!r}; it supports {_supported(cls.mapping)}")
        return _load(cls.mapping[model_type])

    @classmethod
    def from_config(cls, config, rng=None):
        """A new model (random weights) of ``config``'s model_type."""
        return cls.model_class(config.model_type, type(config).__name__)(config, rng=rng)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, rng=None, *, dtype=None,
                        torch_dtype=None):
        """The model of the checkpoint directory ``path``, in eval mode; ``dtype`` as
        PreTrainedModel.from_pretrained's."""
        values = _hf.read_config(path)
        source = os.path.join(os.fspath(path), _hf.CONFIG)
        model_class = cls.model_class(_model_type(values, source), source)
        config = AutoConfig.from_dict(values, source)
        return model_class.from_pretrained(path, rng=rng, config=config, dtype=dtype,
                                           torch_dtype=torch_dtype)


class AutoModel(_AutoModel):
    """The bare model (no head): BertModel, GPT2Model, LlamaModel, T5Model..."""
    mapping = {"bert": "bert.BertModel", "roberta": "roberta.RobertaModel",
               "distilbert": "distilbert.DistilBertModel", "gpt2": "gpt2.GPT2Model",
               "llama": "llama.LlamaModel", "mistral": "llama.LlamaModel",
               "qwen2": "llama.LlamaModel", "t5": "t5.T5Model", "bart": "bart.BartModel",
               "mixtral": "mixtral.MixtralModel", "phi3": "phi3.Phi3Model",
               "gemma": "gemma.GemmaModel", "gemma2": "gemma.Gemma2Model",
               "gpt_neox": "gpt_neox.GPTNeoXModel", "qwen3": "qwen3.Qwen3Model",
               "qwen3_moe": "qwen3.Qwen3MoeModel", "vit": "vit.ViTModel",
               "clip": "clip.CLIPModel", "clip_text_model": "clip.CLIPTextModel",
               "clip_vision_model": "clip.CLIPVisionModel", "whisper": "whisper.WhisperModel"}


class AutoModelForCausalLM(_AutoModel):
    """A decoder language model (``generate``): GPT2LMHeadModel, LlamaForCausalLM..."""
    mapping = {"gpt2": "gpt2.GPT2LMHeadModel", "llama": "llama.LlamaForCausalLM",
               "mistral": "llama.MistralForCausalLM", "qwen2": "llama.Qwen2ForCausalLM",
               "mixtral": "mixtral.MixtralForCausalLM", "phi3": "phi3.Phi3ForCausalLM",
               "gemma": "gemma.GemmaForCausalLM", "gemma2": "gemma.Gemma2ForCausalLM",
               "gpt_neox": "gpt_neox.GPTNeoXForCausalLM", "qwen3": "qwen3.Qwen3ForCausalLM",
               "qwen3_moe": "qwen3.Qwen3MoeForCausalLM"}


class AutoModelForMaskedLM(_AutoModel):
    """An encoder with its masked-LM head: BertForMaskedLM, RobertaForMaskedLM..."""
    mapping = {"bert": "bert.BertForMaskedLM", "roberta": "roberta.RobertaForMaskedLM",
               "distilbert": "distilbert.DistilBertForMaskedLM"}


class AutoModelForSequenceClassification(_AutoModel):
    """An encoder with a classifier on the first token (num_labels from the config)."""
    mapping = {"bert": "bert.BertForSequenceClassification",
               "roberta": "roberta.RobertaForSequenceClassification",
               "distilbert": "distilbert.DistilBertForSequenceClassification"}


class AutoModelForTokenClassification(_AutoModel):
    """An encoder with a classifier on every token."""
    mapping = {"bert": "bert.BertForTokenClassification",
               "roberta": "roberta.RobertaForTokenClassification",
               "distilbert": "distilbert.DistilBertForTokenClassification"}


class AutoModelForQuestionAnswering(_AutoModel):
    """An encoder with span start and end scores."""
    mapping = {"bert": "bert.BertForQuestionAnswering",
               "roberta": "roberta.RobertaForQuestionAnswering",
               "distilbert": "distilbert.DistilBertForQuestionAnswering"}


class AutoModelForSeq2SeqLM(_AutoModel):
    """An encoder-decoder language model (``generate``): T5ForConditionalGeneration,
    BartForConditionalGeneration."""
    mapping = {"t5": "t5.T5ForConditionalGeneration",
               "bart": "bart.BartForConditionalGeneration"}


class AutoModelForImageClassification(_AutoModel):
    """A vision encoder with a classifier: ViTForImageClassification."""
    mapping = {"vit": "vit.ViTForImageClassification"}


class AutoModelForZeroShotImageClassification(_AutoModel):
    """An image-text model scoring images against label prompts: CLIPModel."""
    mapping = {"clip": "clip.CLIPModel"}


class AutoModelForSpeechSeq2Seq(_AutoModel):
    """A speech encoder-decoder (``generate``): WhisperForConditionalGeneration."""
    mapping = {"whisper": "whisper.WhisperForConditionalGeneration"}


_MAPPINGS = (AutoModelForCausalLM.mapping, AutoModelForMaskedLM.mapping,
             AutoModelForSequenceClassification.mapping,
             AutoModelForTokenClassification.mapping, AutoModelForQuestionAnswering.mapping,
             AutoModelForSeq2SeqLM.mapping, AutoModelForImageClassification.mapping,
             AutoModelForZeroShotImageClassification.mapping,
             AutoModelForSpeechSeq2Seq.mapping, AutoModel.mapping)


class _AutoProcessor:
    """One preprocessing class for each ``<kind>_type`` named in preprocessor_config.json."""

    key: ClassVar[str] = ""
    mapping: ClassVar[dict[str, str]] = {}

    def __init__(self):
        raise TypeError(f"{type(self).__name__} is not built: use "
                        f"{type(self).__name__}.from_pretrained(path)")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike):
        """The processor that ``path``'s preprocessor_config.json names in its ``key`` field."""
        source = os.path.join(os.fspath(path), _hf.PREPROCESSOR_CONFIG)
        if not os.path.exists(source):
            raise FileNotFoundError(f"{cls.__name__}: no {source}")
        values = _hf.read_json(source)
        name = values.get(cls.key)
        if name not in cls.mapping:
            raise ValueError(f"{source}: {cls.key} {name!r} is not supported; {cls.__name__} "
                             f"reads {_supported(cls.mapping)}")
        return _load(cls.mapping[name]).from_pretrained(path)


class AutoImageProcessor(_AutoProcessor):
    """ViTImageProcessor or CLIPImageProcessor, by ``image_processor_type``."""
    key = "image_processor_type"
    mapping = {"ViTImageProcessor": "image_processing.ViTImageProcessor",
               "CLIPImageProcessor": "image_processing.CLIPImageProcessor"}


class AutoFeatureExtractor(_AutoProcessor):
    """WhisperFeatureExtractor, by ``feature_extractor_type``."""
    key = "feature_extractor_type"
    mapping = {"WhisperFeatureExtractor": "feature_extraction.WhisperFeatureExtractor"}


class AutoTokenizer:
    """The tokenizer of a directory (its tokenizer.json): PreTrainedTokenizer (it needs the
    ``tokenizers`` library), or WhisperTokenizer (timestamp decoding) when
    tokenizer_config.json's ``tokenizer_class`` names Whisper's."""

    def __init__(self):
        raise TypeError("AutoTokenizer is not built: use AutoTokenizer.from_pretrained(path)")

    @staticmethod
    def from_pretrained(path: str | os.PathLike):
        from dlpy.models.tokenizer import PreTrainedTokenizer

        config = os.path.join(os.fspath(path), "tokenizer_config.json")
        if os.path.exists(config):
            try:
                with open(config, encoding="utf-8") as f:
                    name = json.load(f).get("tokenizer_class")
            except (OSError, ValueError, AttributeError):
                name = None  # PreTrainedTokenizer reports a broken file by name
            if name in ("WhisperTokenizer", "WhisperTokenizerFast"):
                from dlpy.models.whisper import WhisperTokenizer

                return WhisperTokenizer.from_pretrained(path)
        return PreTrainedTokenizer.from_pretrained(path)
