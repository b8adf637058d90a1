"""transformers' ``pipeline``: text, images or audio in, labelled answers out, for the models of
dlpy.models. Each Pipeline is preprocess (tokenize / resize / log-mel) -> the model ->
postprocess (softmax, spans, decoding), with transformers' call conventions and outputs: one
input gives a dict or a list of dicts, a list of inputs a list of those.

    classify = pipeline("text-classification", model="path/to/checkpoint")
    classify(["a good film", "a bad one"])     # [{"label": "positive", "score": 0.98}, ...]

Tasks: fill-mask, text-classification (sentiment-analysis), token-classification (ner),
question-answering, feature-extraction, text-generation, text2text-generation, summarization,
translation(_xx_to_yy), image-classification, zero-shot-image-classification,
automatic-speech-recognition. Local directories and dlpy models only: nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import warnings
from typing import Any, ClassVar

import numpy as np

from dlpy.models import auto
from dlpy.models.generation import GenerationConfig
from dlpy.tensor import Tensor, no_grad

__all__ = ["SUPPORTED_TASKS", "AutomaticSpeechRecognitionPipeline", "FeatureExtractionPipeline",
           "FillMaskPipeline", "ImageClassificationPipeline", "Pipeline",
           "QuestionAnsweringPipeline", "SummarizationPipeline", "Text2TextGenerationPipeline",
           "TextClassificationPipeline", "TextGenerationPipeline", "TokenClassificationPipeline",
           "TranslationPipeline", "ZeroShotImageClassificationPipeline", "pipeline", "resample"]


# ------------------------------------------------------------------------------------ helpers
def _numpy(value) -> np.ndarray:
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _label(config, index: int) -> str:
    """config.id2label[index] (keys int or str), transformers' LABEL_<i> when unnamed."""
    names = getattr(config, "id2label", None) or {}
    return str(names.get(index, names.get(str(index), f"LABEL_{index}")))


def _backend(tokenizer):
    """The ``tokenizers.Tokenizer`` behind a dlpy PreTrainedTokenizer (offsets, words)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        raise TypeError(f"pipeline: expected a dlpy.models PreTrainedTokenizer, got "
                        f"{type(tokenizer).__name__}")
    return backend


@contextlib.contextmanager
def _settings(backend, truncation: dict | None):
    """The backend without padding and with ``truncation`` (None: none) for one call."""
    saved_truncation, saved_padding = backend.truncation, backend.padding
    try:
        backend.no_padding()
        if truncation is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**truncation)
        yield backend
    finally:
        backend.no_truncation() if saved_truncation is None else \
            backend.enable_truncation(**saved_truncation)
        backend.no_padding() if saved_padding is None else backend.enable_padding(**saved_padding)


def _encode(tokenizer, text: str, pair: str | None = None, add_special_tokens: bool = True,
            truncation: dict | None = None):
    """One ``tokenizers.Encoding`` (ids, offsets, special_tokens_mask, overflowing...)."""
    with _settings(_backend(tokenizer), truncation) as backend:
        return backend.encode(text, pair, add_special_tokens=add_special_tokens)


def _arrays(encoding, names) -> dict[str, np.ndarray]:
    """An Encoding as the model's inputs, each (1, seq_len) int64."""
    fields = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
              "token_type_ids": encoding.type_ids}
    return {name: np.array([fields[name]], dtype=np.int64) for name in names if name in fields}


def _model_names(tokenizer) -> tuple[str, ...]:
    return tuple(getattr(tokenizer, "model_input_names", ("input_ids", "attention_mask")))


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


# ----------------------------------------------------------------------------------- the base
class Pipeline:
    """preprocess(one input) -> features (a list: several for a long text cut into windows)
    -> _forward(a batch of features) -> postprocess(one input's outputs) -> the answer.

    ``_sanitize_parameters(**kwargs)`` splits the call's options into the three steps' (those
    given to the constructor are defaults); ``batch_size`` features run through the model
    together, padded (``padded`` names the inputs padded along the sequence and ``per_token``
    the outputs cut back to each feature's length)."""

    task: ClassVar[str] = ""
    chunked: ClassVar[bool] = False  # postprocess gets a list of outputs (one per window)
    batchable: ClassVar[bool] = True
    padded: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask", "token_type_ids")
    per_token: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ("tokenizer",)

    def __init__(self, model, tokenizer=None, image_processor=None, feature_extractor=None,
                 task: str = "", batch_size: int | None = None, **kwargs):
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.feature_extractor = feature_extractor
        self.task = task or type(self).task
        for name in self.needs:
            if getattr(self, name) is None:
                raise ValueError(f"pipeline {self.task!r}: no {name}; pass {name}= (a directory "
                                 f"or object), or a model directory that holds one")
        self._batch_size = batch_size
        self._check_arguments(kwargs)
        self._defaults = self._sanitize_parameters(**kwargs)

    def _check_arguments(self, kwargs: dict) -> None:
        """A TypeError naming the keywords this task does not take, and those it does."""
        parameters = inspect.signature(self._sanitize_parameters).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return
        names = [p.name for p in parameters if not p.name.startswith("_")]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"pipeline {self.task!r}: unexpected argument(s) "
                            f"{', '.join(unknown)}; it takes {', '.join(names) or 'none'} "
                            f"(and batch_size)")

    def _sanitize_parameters(self):
        return {}, {}, {}

    def __call__(self, inputs, *args, batch_size: int | None = None, **kwargs):
        if args:
            raise TypeError(f"pipeline {self.task!r}: expected one input (or a list), got "
                            f"{1 + len(args)} positional arguments")
        self._check_arguments(kwargs)
        steps = self._sanitize_parameters(**kwargs)
        pre, forward, post = ({**default, **given} for default, given in zip(self._defaults, steps))
        size = batch_size or self._batch_size or 1
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"pipeline {self.task!r}: batch_size must be a positive integer, "
                             f"got {size!r}")
        if isinstance(inputs, list):
            return self._run(inputs, size, pre, forward, post)
        return self._run([inputs], 1, pre, forward, post)[0]

    def _run(self, items: list, batch_size: int, pre: dict, forward: dict, post: dict) -> list:
        features = []  # (item index, feature)
        for index, item in enumerate(items):
            chunks = self.preprocess(item, **pre)
            features.extend((index, chunk) for chunk in chunks)
        step = batch_size if self.batchable else 1
        outputs: list[list[dict]] = [[] for _ in items]
        with no_grad():
            for start in range(0, len(features), step):
                group = [feature for _, feature in features[start:start + step]]
                for (index, _), output in zip(features[start:start + step],
                                              self._forward_group(group, forward)):
                    outputs[index].append(output)
        return [self.postprocess(out if self.chunked else out[0], **post) for out in outputs]

    def _forward_group(self, group: list[dict], forward: dict) -> list[dict]:
        """Features padded into one batch, run, and split back (each cut to its length)."""
        names = [key for key, value in group[0].items() if isinstance(value, np.ndarray)
                 and key in self.model_inputs(group[0])]
        if len(group) == 1:
            batch = {key: group[0][key] for key in names}
        else:
            batch = {key: self._stack([f[key] for f in group], key) for key in names}
        result = self._forward(batch, **forward)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        split = []
        for i, feature in enumerate(group):
            own = {}
            length = feature["input_ids"].shape[-1] if "input_ids" in feature else None
            width = batch["input_ids"].shape[-1] if "input_ids" in batch else None
            for key, value in result.items():
                value = value[i:i + 1]
                if key in self.per_token and length is not None and length != width:
                    value = value[:, width - length:] if left else value[:, :length]
                own[key] = value
            split.append({**feature, **own})
        return split

    def model_inputs(self, feature: dict) -> tuple[str, ...]:
        """The keys of a feature that go into the model."""
        return tuple(key for key in feature if isinstance(feature[key], np.ndarray))

    def _stack(self, values: list[np.ndarray], key: str) -> np.ndarray:
        if key not in self.padded or len({v.shape for v in values}) == 1:
            return np.concatenate(values)
        width = max(v.shape[-1] for v in values)
        pad = (getattr(self.tokenizer, "pad_token_id", None) or 0) if key == "input_ids" else 0
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        out = np.full((len(values), width), pad, dtype=values[0].dtype)
        for i, value in enumerate(values):
            n = value.shape[-1]
            if left:
                out[i, width - n:] = value[0]
            else:
                out[i, :n] = value[0]
        return out

    # what a task defines
    def preprocess(self, item, **kwargs) -> list[dict]:
        raise NotImplementedError

    def _forward(self, batch: dict, **kwargs) -> dict:
        raise NotImplementedError

    def postprocess(self, outputs, **kwargs):
        raise NotImplementedError

    def _encode_text(self, text, text_pair=None, truncation=False, max_length=None,
                     add_special_tokens=True) -> dict:
        """A text (and pair) as the model's inputs, each (1, seq_len); the Encoding under
        "encoding"."""
        if not isinstance(text, str) or (text_pair is not None and not isinstance(text_pair, str)):
            raise TypeError(f"pipeline {self.task!r}: expected a text (str), got "
                            f"{type(text if not isinstance(text, str) else text_pair).__name__}")
        limit = max_length if max_length is not None else self.tokenizer.model_max_length
        cut = {"max_length": int(limit), "strategy": "longest_first"} \
            if truncation and limit is not None else None
        encoding = _encode(self.tokenizer, text, text_pair, add_special_tokens, cut)
        return {**_arrays(encoding, _model_names(self.tokenizer)), "encoding": encoding}

    def _run_model(self, batch: dict, names=None):
        names = names or _model_names(self.tokenizer)
        return self.model(**{key: batch[key] for key in names if key in batch})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__})"


# ---------------------------------------------------------------------------------- fill-mask
class FillMaskPipeline(Pipeline):
    """Scores of the vocabulary at each [MASK]: a list of {"score", "token", "token_str",
    "sequence"} (a list of them a mask when there are several)."""

    task = "fill-mask"
    per_token = ("logits",)

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None):
        if self.tokenizer.mask_token_id is None:
            raise ValueError("fill-mask: the tokenizer does not define a `mask_token`")
        post = {}
        if targets is not None:
            post["target_ids"] = self._target_ids(targets)
        if top_k is not None:
            post["top_k"] = top_k
        return {"tokenizer_kwargs": tokenizer_kwargs or {}}, {}, post

    def _target_ids(self, targets) -> np.ndarray:
        targets = [targets] if isinstance(targets, str) else list(targets)
        vocab = _backend(self.tokenizer).get_vocab()
        ids = []
        for target in targets:
            token = vocab.get(target)
            if token is None:
                pieces = _encode(self.tokenizer, target, add_special_tokens=False).ids
                if not pieces:
                    warnings.warn(f"fill-mask: the target {target!r} is not in the vocabulary "
                                  f"and has no tokens; ignored", stacklevel=3)
                    continue
                token = pieces[0]
                warnings.warn(f"fill-mask: the target {target!r} is not in the vocabulary; "
                              f"using {self.tokenizer.convert_ids_to_tokens(token)!r}",
                              stacklevel=3)
            ids.append(token)
        ids = list(set(ids))  # as transformers: one score a token
        if not ids:
            raise ValueError("fill-mask: at least one target must be provided when passed")
        return np.array(ids)

    def __call__(self, inputs, *args, **kwargs):
        outputs = super().__call__(inputs, *args, **kwargs)
        return outputs[0] if isinstance(inputs, list) and len(inputs) == 1 else outputs

    def preprocess(self, text, tokenizer_kwargs=None) -> list[dict]:
        feature = self._encode_text(text, **(tokenizer_kwargs or {}))
        if not (feature["input_ids"] == self.tokenizer.mask_token_id).any():
            raise ValueError(f"fill-mask: no mask_token ({self.tokenizer.mask_token}) found in "
                             f"the input {text!r}")
        return [feature]

    def _forward(self, batch):
        return {"logits": _numpy(self._run_model(batch).logits)}

    def postprocess(self, output, top_k: int = 5, target_ids=None):
        if target_ids is not None and target_ids.shape[0] < top_k:
            top_k = target_ids.shape[0]
        input_ids = output["input_ids"][0]
        masked = np.nonzero(input_ids == self.tokenizer.mask_token_id)[0]
        probs = _softmax(output["logits"][0, masked].astype(np.float32))
        if target_ids is not None:
            probs = probs[..., target_ids]
        single = len(masked) == 1
        result = []
        for i, row_probs in enumerate(probs):
            order = np.argsort(-row_probs, kind="stable")[:top_k]
            row = []
            for p in order:
                token = int(target_ids[p]) if target_ids is not None else int(p)
                tokens = input_ids.copy()
                tokens[masked[i]] = token
                tokens = tokens[tokens != self.tokenizer.pad_token_id]
                row.append({"score": float(row_probs[p]), "token": token,
                            "token_str": self.tokenizer.decode([token]),
                            "sequence": self.tokenizer.decode(tokens, skip_special_tokens=single)})
            result.append(row)
        return result[0] if single else result


# ------------------------------------------------------------------------ text classification
_FUNCTIONS = ("softmax", "sigmoid", "none")


def _scores(config, logits: np.ndarray, function_to_apply) -> np.ndarray:
    """transformers' default: none for regression, sigmoid for one label or multi-label,
    softmax otherwise."""
    if function_to_apply is None or function_to_apply == "default":
        problem = getattr(config, "problem_type", None)
        labels = getattr(config, "num_labels", logits.shape[-1])
        if problem == "regression":
            function_to_apply = "none"
        elif problem == "multi_label_classification" or labels == 1:
            function_to_apply = "sigmoid"
        else:
            function_to_apply = "softmax"
    name = str(function_to_apply).lower()
    if name not in _FUNCTIONS:
        raise ValueError(f"function_to_apply must be one of {', '.join(_FUNCTIONS)}, got "
                         f"{function_to_apply!r}")
    return {"softmax": _softmax, "sigmoid": _sigmoid, "none": lambda x: x}[name](logits)


class TextClassificationPipeline(Pipeline):
    """Labels of a text (or a {"text", "text_pair"} pair): {"label", "score"} (top_k: a
    sorted list of them; top_k=None: every label)."""

    task = "text-classification"

    def _sanitize_parameters(self, function_to_apply=None, top_k="", **tokenizer_kwargs):
        post = {}
        if isinstance(top_k, int) or top_k is None:
            post["top_k"], post["_legacy"] = top_k, False
        if function_to_apply is not None:
            if str(function_to_apply).lower() not in _FUNCTIONS:
                raise ValueError(f"text-classification: function_to_apply must be one of "
                                 f"{', '.join(_FUNCTIONS)}, got {function_to_apply!r}")
            post["function_to_apply"] = function_to_apply
        return tokenizer_kwargs, {}, post

    def __call__(self, inputs, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        return [result] if isinstance(inputs, str) and "top_k" not in kwargs else result

    def preprocess(self, inputs, **tokenizer_kwargs) -> list[dict]:
        if isinstance(inputs, dict):
            if "text" not in inputs:
                raise ValueError(f"text-classification: a dict input needs a 'text' (and "
                                 f"'text_pair'), got keys {sorted(inputs)}")
            return [self._encode_text(inputs["text"], inputs.get("text_pair"),
                                      **tokenizer_kwargs)]
        if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], list) \
                and len(inputs[0]) == 2:
            return [self._encode_text(inputs[0][0], inputs[0][1], **tokenizer_kwargs)]
        if isinstance(inputs, list):
            raise ValueError('The pipeline received invalid inputs, if you are trying to send '
                             'text pairs, you can try to send a dictionary `{"text": "My text", '
                             '"text_pair": "My pair"}` in order to send a text pair.')
        return [self._encode_text(inputs, **tokenizer_kwargs)]

    def _forward(self, batch):
        return {"logits": _numpy(self._run_model(batch).logits)}

    def postprocess(self, output, function_to_apply=None, top_k=1, _legacy=True):
        config = self.model.config
        scores = _scores(config, output["logits"][0].astype(np.float32), function_to_apply)
        if top_k == 1 and _legacy:
            return {"label": _label(config, int(scores.argmax())), "score": float(scores.max())}
        result = [{"label": _label(config, i), "score": float(s)} for i, s in enumerate(scores)]
        if not _legacy:
            result.sort(key=lambda x: x["score"], reverse=True)
            if top_k is not None:
                result = result[:top_k]
        return result


# ----------------------------------------------------------------------- token classification
AGGREGATIONS = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """A label for each token ({"entity", "score", "index", "word", "start", "end"}), or with
    ``aggregation_strategy`` the entities: adjacent tokens of one tag (B-/I-) joined
    ({"entity_group", "score", "word", "start", "end"}); first / average / max first make the
    tokens of a word agree (its first token's label, the mean scores, the surest token's).
    ``stride``: a text longer than model_max_length runs as overlapping windows (``stride``
    tokens shared), the windows' entities merged (of overlapping ones the longer, then the
    surer kept); ``is_split_into_words``: inputs are lists of words, joined by ``delimiter``
    (a space) for the offsets."""

    task = "token-classification"
    per_token = ("logits",)
    chunked = True

    def __call__(self, inputs, *args, **kwargs):
        if kwargs.get("is_split_into_words") and isinstance(inputs, (list, tuple)) and \
                not all(isinstance(words, (list, tuple)) for words in inputs):
            return super().__call__([list(inputs)], *args, **kwargs)  # one list: [result]
        return super().__call__(inputs, *args, **kwargs)

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None,
                             offset_mapping=None, is_split_into_words=False, stride=None,
                             delimiter=None):
        if offset_mapping is not None:
            raise ValueError("token-classification: offset_mapping (for slow tokenizers) is "
                             "not supported by dlpy's pipeline; the tokenizer gives offsets")
        pre = {"is_split_into_words": bool(is_split_into_words)}
        if is_split_into_words:
            pre["delimiter"] = " " if delimiter is None else delimiter
        post = {}
        if aggregation_strategy is not None:
            name = str(aggregation_strategy).lower()
            if name not in AGGREGATIONS:
                raise ValueError(f"token-classification: aggregation_strategy must be one of "
                                 f"{', '.join(AGGREGATIONS)}, got {aggregation_strategy!r}")
            post["aggregation_strategy"] = name
        if ignore_labels is not None:
            post["ignore_labels"] = ignore_labels
        if stride is not None:
            limit = self.tokenizer.model_max_length
            if limit is not None and stride >= limit:
                raise ValueError("`stride` must be less than `tokenizer.model_max_length` (or "
                                 "even lower if the tokenizer adds special tokens)")
            if post.get("aggregation_strategy") == "none":
                raise ValueError('`stride` was provided to process all the text but '
                                 '`aggregation_strategy="none"`, please select another one '
                                 'instead.')
            pre["stride"] = stride
        return pre, {}, post

    def preprocess(self, sentence, is_split_into_words=False, delimiter=" ",
                   stride=None) -> list[dict]:
        """One feature a window: the model's inputs, the window's encoding, and each token's
        characters in the sentence (pre-split words: shifted to where the word starts in
        ``delimiter.join(words)``)."""
        if is_split_into_words:
            if not isinstance(sentence, list):
                raise ValueError("When `is_split_into_words=True`, `sentence` must be a list of "
                                 "tokens.")
            starts = np.cumsum([0] + [len(word) + len(delimiter) for word in sentence])
            words, sentence = sentence, delimiter.join(sentence)
        elif not isinstance(sentence, str):
            raise ValueError("When `is_split_into_words=False`, `sentence` must be an "
                             "untokenized string.")
        windows = {"padding": True, "stride": stride, "return_overflowing_tokens": True} \
            if stride is not None else {"padding": False}
        batch = self.tokenizer(words if is_split_into_words else sentence,
                               truncation=bool(self.tokenizer.model_max_length),
                               is_split_into_words=is_split_into_words, **windows)
        features = []
        for row, encoding in enumerate(batch.encodings):
            offsets = encoding.offsets
            if is_split_into_words:
                offsets = [(start + int(starts[word]), end + int(starts[word]))
                           if word is not None else (start, end)
                           for (start, end), word in zip(offsets, encoding.word_ids)]
            features.append({**{key: batch[key][row:row + 1] for key in
                                _model_names(self.tokenizer) if key in batch},
                             "encoding": encoding, "offsets": offsets, "sentence": sentence})
        return features

    def _forward(self, batch):
        return {"logits": _numpy(self._run_model(batch).logits)}

    def postprocess(self, outputs, aggregation_strategy="none", ignore_labels=None):
        ignore_labels = ["O"] if ignore_labels is None else ignore_labels
        entities = []
        for output in outputs:  # the windows'
            scores = _softmax(output["logits"][0].astype(np.float32))
            pre = self._pre_entities(output["sentence"], output["encoding"], output["offsets"],
                                     scores, aggregation_strategy)
            entities += [e for e in self._aggregate(pre, aggregation_strategy)
                         if e.get("entity") not in ignore_labels
                         and e.get("entity_group") not in ignore_labels]
        return self._merge_windows(entities) if len(outputs) > 1 else entities

    @staticmethod
    def _merge_windows(entities: list[dict]) -> list[dict]:
        """Entities of overlapping windows by start; of two that overlap the longer (then the
        surer) kept, as transformers' aggregate_overlapping_entities."""
        if not entities:
            return entities
        entities = sorted(entities, key=lambda e: e["start"])
        kept, previous = [], entities[0]
        for entity in entities:
            if previous["start"] <= entity["start"] < previous["end"]:
                length, previous_length = (entity["end"] - entity["start"],
                                           previous["end"] - previous["start"])
                if length > previous_length or (length == previous_length
                                                and entity["score"] > previous["score"]):
                    previous = entity
            else:
                kept.append(previous)
                previous = entity
        kept.append(previous)
        return kept

    def _pre_entities(self, sentence, encoding, offsets, scores, strategy) -> list[dict]:
        model = _backend(self.tokenizer).model
        subword_prefix = getattr(model, "continuing_subword_prefix", None)
        out = []
        for index, token_scores in enumerate(scores):
            if encoding.special_tokens_mask[index]:
                continue
            token_id = encoding.ids[index]
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start, end = offsets[index]
            word_ref = sentence[start:end]
            if subword_prefix:
                is_subword = len(word) != len(word_ref)
            else:
                if strategy in ("first", "average", "max"):
                    warnings.warn("Tokenizer does not support real words, using fallback "
                                  "heuristic", UserWarning, stacklevel=4)
                is_subword = start > 0 and " " not in sentence[start - 1:start + 1]
            if token_id == self.tokenizer.unk_token_id:
                word, is_subword = word_ref, False
            out.append({"word": word, "scores": token_scores, "start": start, "end": end,
                        "index": index, "is_subword": is_subword})
        return out

    def _aggregate(self, pre: list[dict], strategy: str) -> list[dict]:
        config = self.model.config
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                best = int(p["scores"].argmax())
                entities.append({"entity": _label(config, best), "score": float(p["scores"][best]),
                                 "index": p["index"], "word": p["word"], "start": p["start"],
                                 "end": p["end"]})
        else:
            entities, group = [], None
            for p in pre:
                if group is None:
                    group = [p]
                elif p["is_subword"]:
                    group.append(p)
                else:
                    entities.append(self._word(group, strategy))
                    group = [p]
            if group is not None:
                entities.append(self._word(group, strategy))
        return entities if strategy == "none" else self._group(entities)

    def _tokens_to_string(self, tokens: list[str]) -> str:
        decoder = _backend(self.tokenizer).decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def _word(self, pieces: list[dict], strategy: str) -> dict:
        """One word's tokens as one entity."""
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda p: p["scores"].max())["scores"]
        else:
            scores = np.nanmean(np.stack([p["scores"] for p in pieces]), axis=0)
        best = int(scores.argmax())
        return {"entity": _label(self.model.config, best), "score": float(scores[best]),
                "word": self._tokens_to_string([p["word"] for p in pieces]),
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}

    @staticmethod
    def _tag(name: str) -> tuple[str, str]:
        if name.startswith(("B-", "I-")):
            return name[0], name[2:]
        return "I", name

    def _group(self, entities: list[dict]) -> list[dict]:
        """Adjacent entities of one tag (a B- starts a new one) joined."""
        groups, current = [], []
        for entity in entities:
            if current:
                bi, tag = self._tag(entity["entity"])
                _, last_tag = self._tag(current[-1]["entity"])
                if tag == last_tag and bi != "B":
                    current.append(entity)
                    continue
                groups.append(self._group_of(current))
            current = [entity]
        if current:
            groups.append(self._group_of(current))
        return groups

    def _group_of(self, entities: list[dict]) -> dict:
        return {"entity_group": entities[0]["entity"].split("-", 1)[-1],
                "score": float(np.nanmean([e["score"] for e in entities])),
                "word": self._tokens_to_string([e["word"] for e in entities]),
                "start": entities[0]["start"], "end": entities[-1]["end"]}


# ------------------------------------------------------------------------ question answering
class QuestionAnsweringPipeline(Pipeline):
    """The answer to a question in a context: {"score", "start", "end", "answer"} (character
    offsets in the context), as transformers 4's pipeline (5 removed it). A long context is
    read in windows of ``max_seq_len`` tokens overlapping by ``doc_stride``; a span's score is
    p_start * p_end; ``handle_impossible_answer`` adds the empty answer ([CLS] x [CLS])."""

    task = "question-answering"
    chunked = True
    per_token = ("start_logits", "end_logits")

    def _sanitize_parameters(self, padding=None, top_k=None, doc_stride=None,
                             max_answer_len=None, max_seq_len=None, max_question_len=None,
                             handle_impossible_answer=None, align_to_words=None):
        pre = {key: value for key, value in (("doc_stride", doc_stride),
                                             ("max_seq_len", max_seq_len)) if value is not None}
        post = {}
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k parameter should be >= 1 (got {top_k})")
            post["top_k"] = top_k
        if max_answer_len is not None:
            if max_answer_len < 1:
                raise ValueError(f"max_answer_len parameter should be >= 1 (got "
                                 f"{max_answer_len})")
            post["max_answer_len"] = max_answer_len
        if handle_impossible_answer is not None:
            post["handle_impossible_answer"] = handle_impossible_answer
        if align_to_words is not None:
            post["align_to_words"] = align_to_words
        return pre, {}, post

    def __call__(self, *args, question=None, context=None, **kwargs):
        if args and question is None:
            if len(args) == 2 and all(isinstance(a, str) for a in args):
                inputs = {"question": args[0], "context": args[1]}
            elif len(args) == 1:
                inputs = args[0]
            else:
                raise ValueError("question-answering: expected question= and context=, a "
                                 "{'question', 'context'} dict or a list of them")
        elif question is not None and context is not None:
            if isinstance(question, list):
                contexts = [context] * len(question) if isinstance(context, str) else context
                if len(contexts) != len(question):
                    raise ValueError("Questions and contexts don't have the same lengths")
                inputs = [{"question": q, "context": c} for q, c in zip(question, contexts)]
            else:
                inputs = {"question": question, "context": context}
        else:
            raise ValueError("question-answering: expected question= and context=, a "
                             "{'question', 'context'} dict or a list of them")
        items = inputs if isinstance(inputs, list) else [inputs]
        for item in items:
            self._check(item)
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        return super().__call__(inputs, **kwargs)

    @staticmethod
    def _check(item) -> None:
        if not isinstance(item, dict):
            raise ValueError(f"{item!r} argument needs to be of type dict with keys question "
                             f"and context")
        for key in ("question", "context"):
            if key not in item:
                raise KeyError("You need to provide a dictionary with keys {question:..., "
                               "context:...}")
            if item[key] is None:
                raise ValueError(f"`{key}` cannot be None")
            if isinstance(item[key], str) and len(item[key]) == 0:
                raise ValueError(f"`{key}` cannot be empty")

    def preprocess(self, example, doc_stride=None, max_seq_len=None) -> list[dict]:
        limit = self.tokenizer.model_max_length
        if max_seq_len is None:
            max_seq_len = min(limit, 384) if limit is not None else 384
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"`doc_stride` ({doc_stride}) is larger than `max_seq_len` "
                             f"({max_seq_len})")
        question_first = self.tokenizer.padding_side == "right"
        first, second = ((example["question"], example["context"]) if question_first else
                         (example["context"], example["question"]))
        try:  # the context's windows, as token-classification's stride
            spans = self.tokenizer(
                first, second, padding=False, max_length=max_seq_len, stride=doc_stride,
                truncation="only_second" if question_first else "only_first",
                return_overflowing_tokens=True, return_tensors=None).encodings
        except Exception as err:  # tokenizers: the question leaves no room for the context
            raise ValueError(f"question-answering: cannot fit the question and a window of the "
                             f"context in max_seq_len={max_seq_len} with doc_stride={doc_stride} "
                             f"({err})") from None
        features = []
        for i, span in enumerate(spans):
            p_mask = np.array([[s != 1 if question_first else 0 for s in span.sequence_ids]],
                              dtype=np.int64)
            if self.tokenizer.cls_token_id is not None:
                p_mask[0, np.array(span.ids) == self.tokenizer.cls_token_id] = 0
            features.append({**_arrays(span, _model_names(self.tokenizer)), "encoding": span,
                             "p_mask": p_mask, "example": example, "is_last": i == len(spans) - 1})
        return features

    def model_inputs(self, feature):
        return tuple(key for key in _model_names(self.tokenizer) if key in feature)

    def _forward(self, batch):
        out = self._run_model(batch)
        return {"start_logits": _numpy(out.start_logits), "end_logits": _numpy(out.end_logits)}

    def postprocess(self, outputs, top_k=1, handle_impossible_answer=False, max_answer_len=15,
                    align_to_words=True):
        min_null_score = 1000000  # large and positive
        answers = []
        for output in outputs:
            example = output["example"]
            starts, ends, scores, min_null_score = _select_starts_ends(
                output["start_logits"], output["end_logits"], output["p_mask"],
                output.get("attention_mask"), min_null_score,
                top_k * 2 + 10 if align_to_words else top_k, handle_impossible_answer,
                max_answer_len)
            question_first = self.tokenizer.padding_side == "right"
            offset = int((output["input_ids"] == self.tokenizer.pad_token_id).sum()) \
                if self.tokenizer.padding_side == "left" else 0
            sequence_index = 1 if question_first else 0
            for s, e, score in zip(starts, ends, scores):
                start, end = self._indices(output["encoding"], int(s) - offset, int(e) - offset,
                                           sequence_index, align_to_words)
                text = example["context"][start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": start, "end": end,
                                    "answer": text})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    @staticmethod
    def _indices(encoding, s: int, e: int, sequence_index: int, align_to_words: bool):
        if align_to_words:
            try:
                start_word, end_word = encoding.token_to_word(s), encoding.token_to_word(e)
                return (encoding.word_to_chars(start_word, sequence_index)[0],
                        encoding.word_to_chars(end_word, sequence_index)[1])
            except Exception:
                pass
        return encoding.offsets[s][0], encoding.offsets[e][1]


def _select_starts_ends(start, end, p_mask, attention_mask, min_null_score, top_k,
                        handle_impossible_answer, max_answer_len):
    """transformers' select_starts_ends: softmax over the allowed tokens, the best spans."""
    undesired = np.abs(np.array(p_mask) - 1)
    if attention_mask is not None:
        undesired = undesired & attention_mask
    masked = undesired == 0.0
    start = np.where(masked, -10000.0, start)
    end = np.where(masked, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, float(start[0, 0] * end[0, 0]))
    start[0, 0] = end[0, 0] = 0.0
    starts, ends, scores = _decode_spans(start, end, top_k, max_answer_len, undesired)
    return starts, ends, scores, min_null_score


def _decode_spans(start, end, top_k, max_answer_len, undesired):
    """The top_k spans by p_start * p_end with start <= end < start + max_answer_len."""
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        order = [np.argmax(flat)]
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        index = np.argpartition(-flat, top_k)[0:top_k]
        order = index[np.argsort(-flat[index])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # as transformers: the row indices of nonzero() are among the "allowed" values too
    allowed = np.array(undesired.nonzero())
    keep = np.isin(starts, allowed) & np.isin(ends, allowed)
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


# ------------------------------------------------------------------------ feature extraction
class FeatureExtractionPipeline(Pipeline):
    """The last hidden states of a text: a nested list (1, seq_len, hidden) (return_tensors:
    the array)."""

    task = "feature-extraction"
    per_token = ("hidden",)

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None):
        pre = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in pre:
                raise ValueError("truncation parameter defined twice (given as keyword argument "
                                 "as well as in tokenize_kwargs)")
            pre["truncation"] = truncation
        post = {} if return_tensors is None else {"return_tensors": return_tensors}
        return pre, {}, post

    def preprocess(self, text, **tokenize_kwargs) -> list[dict]:
        return [self._encode_text(text, **tokenize_kwargs)]

    def _forward(self, batch):
        return {"hidden": _numpy(self._run_model(batch)[0])}

    def postprocess(self, output, return_tensors=False):
        return output["hidden"] if return_tensors else output["hidden"].tolist()


# ---------------------------------------------------------------------------- text generation
def _generate_settings(model, defaults: dict, given: dict, tokenizer=None) -> dict:
    """generate's keywords in transformers' order: the call's, then the model's
    generation_config, then the pipeline's ``defaults`` (max_new_tokens left out where a
    max_length is set); the tokenizer's pad token where none is named."""
    config = getattr(model, "generation_config", None)
    settings = dict(given)
    for key, value in defaults.items():
        # set: given, or in the config and not transformers' default (its to_diff_dict)
        if key in settings or getattr(config, key, None) not in (
                None, GenerationConfig.DEFAULTS.get(key) if key != "max_new_tokens" else None):
            continue
        if key == "max_new_tokens" and ("max_length" in settings or
                                        getattr(config, "max_length", None) not in (None, 20)):
            continue
        settings[key] = value
    pad = getattr(tokenizer, "pad_token_id", None)
    if settings.get("pad_token_id") is None and getattr(config, "pad_token_id", None) is None \
            and getattr(model.config, "pad_token_id", None) is None and pad is not None:
        settings["pad_token_id"] = pad
    return settings


class TextGenerationPipeline(Pipeline):
    """A decoder continues a prompt: [{"generated_text": prompt + continuation}]
    (return_full_text=False: the continuation; return_tensors: {"generated_token_ids"}).
    Other keywords go to ``generate`` (max_new_tokens, do_sample, num_beams...); what neither
    they nor the model's generation_config set is transformers 5's pipeline default: 256 new
    tokens sampled at temperature 0.7."""

    task = "text-generation"
    batchable = False
    generation_defaults: ClassVar[dict] = {"max_new_tokens": 256, "do_sample": True,
                                           "temperature": 0.7}

    def _sanitize_parameters(self, return_full_text=None, return_tensors=None, return_text=None,
                             return_type=None, clean_up_tokenization_spaces=None, prefix=None,
                             handle_long_generation=None, stop_sequence=None, truncation=None,
                             max_length=None, skip_special_tokens=None,
                             add_special_tokens=None, **generate_kwargs):
        if handle_long_generation is not None:
            raise ValueError("text-generation: handle_long_generation is not supported by dlpy")
        if clean_up_tokenization_spaces:
            raise ValueError("text-generation: clean_up_tokenization_spaces is not supported "
                             "(dlpy decodes with the tokenizer's own decoder)")
        pre = {key: value for key, value in (("prefix", prefix), ("truncation", truncation),
                                             ("add_special_tokens", add_special_tokens))
               if value is not None}
        if max_length is not None:
            generate_kwargs["max_length"] = max_length
        if stop_sequence is not None:
            generate_kwargs["stop_strings"] = stop_sequence
            generate_kwargs["tokenizer"] = self.tokenizer
        post = {}
        if return_full_text is not None and return_type is None:
            if return_text is not None:
                raise ValueError("`return_text` is mutually exclusive with `return_full_text`")
            if return_tensors is not None:
                raise ValueError("`return_full_text` is mutually exclusive with `return_tensors`")
            return_type = "full_text" if return_full_text else "new_text"
        if return_tensors is not None and return_type is None:
            if return_text is not None:
                raise ValueError("`return_text` is mutually exclusive with `return_tensors`")
            return_type = "tensors"
        if return_type is not None:
            post["return_type"] = return_type
        if skip_special_tokens is not None:
            post["skip_special_tokens"] = skip_special_tokens
        return pre, generate_kwargs, post

    def preprocess(self, prompt, prefix="", truncation=False, add_special_tokens=False):
        if isinstance(prompt, dict) or (isinstance(prompt, list) and prompt
                                        and isinstance(prompt[0], dict)):
            raise ValueError("text-generation: chat messages need a chat template, which dlpy's "
                             "tokenizer does not read; pass the prompt as text")
        feature = self._encode_text(prefix + prompt, truncation=truncation,
                                    add_special_tokens=add_special_tokens)
        feature["prompt_text"] = prompt
        return [feature]

    def model_inputs(self, feature):
        return ("input_ids", "attention_mask")

    def _forward(self, batch, **generate_kwargs):
        settings = _generate_settings(self.model, self.generation_defaults, generate_kwargs,
                                      self.tokenizer)
        ids = batch["input_ids"]
        if ids.shape[1] == 0:
            raise ValueError("text-generation: the prompt has no tokens")
        out = self.model.generate(ids, attention_mask=batch.get("attention_mask"), **settings)
        return {"generated": _numpy(out)[None]}

    def postprocess(self, output, return_type="full_text", skip_special_tokens=True):
        prompt_length = output["input_ids"].shape[-1]
        records = []
        for sequence in output["generated"][0]:
            if return_type == "tensors":
                records.append({"generated_token_ids": sequence.tolist()})
                continue
            text = self.tokenizer.decode(sequence[prompt_length:],
                                         skip_special_tokens=skip_special_tokens)
            if return_type == "full_text":
                text = output["prompt_text"] + text
            records.append({"generated_text": text})
        return records


class Text2TextGenerationPipeline(Pipeline):
    """An encoder-decoder (T5, BART) writes a text for a text: [{"generated_text": ...}], as
    transformers 4's pipeline (5 removed it). The model config's ``prefix`` or its
    ``task_specific_params[task]`` (a prefix and generate settings) apply; other keywords go
    to ``generate`` (what neither they nor the model's generation_config set: 256 new tokens,
    4 beams, transformers 4's pipeline defaults)."""

    task = "text2text-generation"
    return_name = "generated"
    batchable = False
    generation_defaults: ClassVar[dict] = {"max_new_tokens": 256, "num_beams": 4}

    def __init__(self, model, tokenizer=None, task: str = "", prefix: str | None = None,
                 task_specific_params: dict | None = None, **kwargs):
        config = model.config
        self.prefix = prefix if prefix is not None else getattr(config, "prefix", None)
        params = task_specific_params if task_specific_params is not None else \
            getattr(config, "task_specific_params", None) or {}
        task_params = dict(params.get(task or type(self).task) or {})
        if "prefix" in task_params:
            self.prefix = task_params.pop("prefix")
        self.task_params = task_params
        super().__init__(model, tokenizer, task=task, **kwargs)

    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None,
                             stop_sequence=None, src_lang=None, tgt_lang=None,
                             **generate_kwargs):
        if clean_up_tokenization_spaces:
            raise ValueError(f"{self.task}: clean_up_tokenization_spaces is not supported "
                             f"(dlpy decodes with the tokenizer's own decoder)")
        pre = {} if truncation is None else {"truncation": truncation}
        post = {}
        if return_tensors is not None and return_type is None:
            return_type = "tensors" if return_tensors else "text"
        if return_type is not None:
            post["return_type"] = return_type
        if stop_sequence is not None:
            stop = _encode(self.tokenizer, stop_sequence, add_special_tokens=False).ids
            if len(stop) > 1:
                warnings.warn("Stopping on a multiple token sequence is not yet supported; the "
                              "first token of the stop sequence is used", stacklevel=3)
            generate_kwargs["eos_token_id"] = stop[0]
        return pre, generate_kwargs, post

    def __call__(self, inputs, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and all(isinstance(x, str) for x in inputs) \
                and all(len(r) == 1 for r in result):
            return [r[0] for r in result]
        return result

    def preprocess(self, text, truncation=False) -> list[dict]:
        if not isinstance(text, str):
            raise TypeError(f"{self.task}: expected a text (str) or a list of texts, got "
                            f"{type(text).__name__}")
        feature = self._encode_text((self.prefix or "") + text, truncation=truncation)
        feature.pop("token_type_ids", None)
        return [feature]

    def model_inputs(self, feature):
        return ("input_ids", "attention_mask")

    def _forward(self, batch, **generate_kwargs):
        settings = _generate_settings(self.model, self.generation_defaults,
                                      {**self.task_params, **generate_kwargs}, self.tokenizer)
        out = self.model.generate(batch["input_ids"], attention_mask=batch["attention_mask"],
                                  **settings)
        return {"output_ids": _numpy(out)[None]}

    def postprocess(self, output, return_type="text"):
        if return_type == "tensors":
            return [{f"{self.return_name}_token_ids": ids.tolist()}
                    for ids in output["output_ids"][0]]
        return [{f"{self.return_name}_text": self.tokenizer.decode(ids, skip_special_tokens=True)}
                for ids in output["output_ids"][0]]


class SummarizationPipeline(Text2TextGenerationPipeline):
    """text2text-generation answering {"summary_text"} (T5's "summarize: " prefix from its
    task_specific_params)."""

    task = "summarization"
    return_name = "summary"


class TranslationPipeline(Text2TextGenerationPipeline):
    """text2text-generation answering {"translation_text"}; task "translation_en_to_fr"
    reads that entry of the config's task_specific_params (T5's prefix)."""

    task = "translation"
    return_name = "translation"


# ----------------------------------------------------------------------------------- images
def _load_image(image, task: str):
    """A PIL image (converted to RGB), an image file's path, or an array (H, W, C) / (C, H, W)
    as it is."""
    if isinstance(image, (np.ndarray, Tensor)):
        return _numpy(image)
    if _is_path(image):
        image = os.fspath(image)
        if image.startswith(("http://", "https://")):
            raise ValueError(f"{task}: {image!r} is a URL; dlpy downloads nothing (pass a local "
                             f"file, a PIL image or an array)")
        if not os.path.isfile(image):
            raise FileNotFoundError(f"{task}: no image file {image!r}")
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImportError(f"{task}: reading {type(image).__name__} images needs Pillow "
                          f"(pip install pillow), or pass numpy arrays") from None
    if isinstance(image, str):
        image = Image.open(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"{task}: expected an image (a PIL image, a file path or an array), got "
                        f"{type(image).__name__}")
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


class ImageClassificationPipeline(Pipeline):
    """Labels of an image (a PIL image, a file path or an array): the top_k (default 5)
    {"label", "score"}, best first."""

    task = "image-classification"
    needs = ("image_processor",)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None):
        post = {}
        if top_k is not None:
            post["top_k"] = top_k
        if function_to_apply is not None:
            if str(function_to_apply).lower() not in _FUNCTIONS:
                raise ValueError(f"image-classification: function_to_apply must be one of "
                                 f"{', '.join(_FUNCTIONS)}, got {function_to_apply!r}")
            post["function_to_apply"] = function_to_apply
        return {}, {}, post

    def __call__(self, inputs=None, *args, images=None, **kwargs):
        inputs = images if images is not None else inputs
        if inputs is None:
            raise ValueError("Cannot call the image-classification pipeline without an inputs "
                             "argument!")
        return super().__call__(inputs, *args, **kwargs)

    def preprocess(self, image) -> list[dict]:
        pixels = self.image_processor(_load_image(image, self.task))["pixel_values"]
        return [{"pixel_values": np.asarray(pixels, dtype=np.float32)}]

    def _forward(self, batch):
        return {"logits": _numpy(self.model(pixel_values=batch["pixel_values"]).logits)}

    def postprocess(self, output, function_to_apply=None, top_k=5):
        config = self.model.config
        scores = _scores(config, output["logits"][0].astype(np.float32), function_to_apply)
        top_k = min(top_k, len(scores)) if top_k is not None else None
        result = [{"label": _label(config, i), "score": float(s)} for i, s in enumerate(scores)]
        result.sort(key=lambda x: x["score"], reverse=True)
        return result[:top_k] if top_k is not None else result


class ZeroShotImageClassificationPipeline(Pipeline):
    """CLIP scores an image against ``candidate_labels`` written into ``hypothesis_template``
    ("This is a photo of {}."): [{"score", "label"}] by softmax over the labels, best first."""

    task = "zero-shot-image-classification"
    needs = ("tokenizer", "image_processor")
    batchable = False

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None,
                             timeout=None, tokenizer_kwargs=None):
        pre = {}
        if candidate_labels is not None:
            pre["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            pre["hypothesis_template"] = hypothesis_template
        return pre, {}, {}

    def __call__(self, inputs=None, *args, image=None, **kwargs):
        inputs = image if image is not None else inputs
        return super().__call__(inputs, *args, **kwargs)

    def preprocess(self, image, candidate_labels=None,
                   hypothesis_template="This is a photo of {}.") -> list[dict]:
        if not candidate_labels:
            raise ValueError("zero-shot-image-classification: candidate_labels are needed "
                             "(a list of label names)")
        if isinstance(candidate_labels, str):
            candidate_labels = [candidate_labels]
        pixels = self.image_processor([_load_image(image, self.task)])["pixel_values"]
        texts = self.tokenizer([hypothesis_template.format(x) for x in candidate_labels],
                               padding=True, truncation=False)
        return [{"pixel_values": np.asarray(pixels, dtype=np.float32),
                 "text_input_ids": texts["input_ids"],
                 "text_attention_mask": texts["attention_mask"],
                 "candidate_labels": list(candidate_labels)}]

    def _forward(self, batch):
        out = self.model(input_ids=batch["text_input_ids"], pixel_values=batch["pixel_values"],
                         attention_mask=batch["text_attention_mask"])
        return {"logits": _numpy(out.logits_per_image)}

    def postprocess(self, output):
        probs = _softmax(output["logits"][0].astype(np.float32))
        pairs = sorted(zip(probs.tolist(), output["candidate_labels"]), key=lambda x: -x[0])
        return [{"score": score, "label": label} for score, label in pairs]


# ------------------------------------------------------------------------------------ speech
def resample(waveform: np.ndarray, orig_freq: int, new_freq: int,
             lowpass_filter_width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """Band-limited resampling of a numpy (..., time) as torchaudio.functional.resample
    (dlpy.audio.functional.resample: Hann-windowed sinc, ``lowpass_filter_width`` zero crossings,
    cut-off ``rolloff`` x the lower Nyquist); ceil(time * new / orig) samples."""
    from dlpy.audio.functional import resample as audio_resample

    waveform = np.asarray(waveform)
    with no_grad():  # dlpy.audio's resampler, in float64
        out = audio_resample(Tensor(waveform.astype(np.float64)), orig_freq, new_freq,
                             lowpass_filter_width, rolloff).data
    return out.astype(waveform.dtype if waveform.dtype.kind == "f" else np.float32)


class AutomaticSpeechRecognitionPipeline(Pipeline):
    """Whisper transcribes audio: {"text": ...} (with ``return_timestamps=True`` also
    "chunks": [{"text", "timestamp": (start, end)}], seconds; with ``return_timestamps="word"``
    a chunk a word, timed by generate's token timestamps). Input: a waveform (numpy, mono, at
    the feature extractor's rate) or {"raw" (or "array"), "sampling_rate"} (other
    rates resampled). Audio longer than one window: Whisper's long-form generate, or with
    ``chunk_length_s`` windows of that length overlapping by ``stride_length_s`` (default
    chunk / 6 each side) transcribed apart and joined where their tokens agree (transformers'
    chunking). Decoding as transformers 5: 5 beams and 256 new tokens unless the call
    (``generate_kwargs`` or keywords) or the model's generation_config says otherwise."""

    task = "automatic-speech-recognition"
    needs = ("tokenizer", "feature_extractor")
    batchable = False
    chunked = True
    generate_defaults: ClassVar[dict] = {"max_new_tokens": 256, "num_beams": 5}

    def _sanitize_parameters(self, chunk_length_s=None, stride_length_s=None,
                             return_timestamps=None, return_language=None,
                             generate_kwargs=None, ignore_warning=None, **kwargs):
        if return_language:
            raise ValueError("automatic-speech-recognition: return_language is not supported "
                             "by dlpy's pipeline")
        if return_timestamps == "char":
            raise ValueError("Whisper cannot return `char` timestamps, only word level or "
                             "segment level timestamps. Use `return_timestamps='word'` or "
                             "`return_timestamps=True` respectively.")
        pre = {key: value for key, value in (("chunk_length_s", chunk_length_s),
                                             ("stride_length_s", stride_length_s))
               if value is not None}
        forward = {**(generate_kwargs or {}), **kwargs}
        post = {}
        if return_timestamps is not None:
            forward["return_timestamps"] = post["return_timestamps"] = return_timestamps
        return pre, forward, post

    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None) -> list[dict]:
        extractor = self.feature_extractor
        rate = extractor.sampling_rate
        if _is_path(inputs) or isinstance(inputs, bytes):
            raise ValueError("automatic-speech-recognition: audio files need ffmpeg, which dlpy "
                             "does not use; pass a numpy waveform or {'raw', 'sampling_rate'}")
        if isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
                raise ValueError('When passing a dictionary to AutomaticSpeechRecognitionPipeline, '
                                 'the dict needs to contain a "raw" key containing the numpy '
                                 'array representing the audio and a "sampling_rate" key, '
                                 'containing the sampling_rate associated with that array')
            audio = inputs.get("raw", inputs.get("array"))
            audio = resample(_mono(audio), inputs["sampling_rate"], rate)
        else:
            audio = _mono(inputs)
        if chunk_length_s:
            return self._chunks(audio, chunk_length_s, stride_length_s)
        long = audio.shape[0] > extractor.n_samples  # Whisper's own long-form generate
        features = extractor(audio, sampling_rate=rate, return_attention_mask=True,
                             **({"truncation": False, "padding": "longest"} if long else {}))
        return [self._feature(features)]

    @staticmethod
    def _feature(features, **extra) -> dict:
        return {"input_features": np.asarray(features["input_features"], np.float32),
                "attention_mask": np.asarray(features["attention_mask"]), **extra}

    def _chunks(self, audio, chunk_length_s, stride_length_s) -> list[dict]:
        """transformers' chunk_iter: windows of chunk_length_s seconds starting every
        chunk - left - right samples, each with its (length, left, right) stride in samples
        (no left stride on the first, no right one on the last)."""
        rate = self.feature_extractor.sampling_rate
        if stride_length_s is None:
            stride_length_s = chunk_length_s / 6
        if isinstance(stride_length_s, (int, float)):
            stride_length_s = [stride_length_s, stride_length_s]
        length, left, right = (int(round(seconds * rate)) for seconds in
                               (chunk_length_s, *stride_length_s))
        if length < left + right:
            raise ValueError("Chunk length must be superior to stride length")
        features = []
        for start in range(0, audio.shape[0], length - left - right):
            piece = audio[start:start + length]
            last = start + length >= audio.shape[0]
            stride = (piece.shape[0], 0 if start == 0 else left, 0 if last else right)
            if piece.shape[0] > stride[1]:
                features.append(self._feature(self.feature_extractor(
                    piece, sampling_rate=rate, return_attention_mask=True), stride=stride))
            if last:
                break
        return features

    def _forward(self, batch, **generate_kwargs):
        settings = _generate_settings(self.model, self.generate_defaults, generate_kwargs,
                                      self.tokenizer)
        words = settings.get("return_timestamps") == "word"
        if not settings.get("return_timestamps"):
            settings.pop("return_timestamps", None)
        else:
            settings["return_timestamps"] = True
        if words:  # the tokens' times, kept by each segment
            settings.update(return_token_timestamps=True, return_segments=True)
        tokens = self.model.generate(batch["input_features"],
                                     attention_mask=batch.get("attention_mask"), **settings)
        if not isinstance(tokens, dict):
            return {"tokens": _numpy(tokens)}
        out = {"tokens": _numpy(tokens["sequences"])}
        if words:
            out["token_timestamps"] = [np.concatenate(
                [np.zeros(0, np.float32)] + [s["token_timestamps"] for s in row])
                for row in tokens["segments"]]
        return out

    def postprocess(self, outputs, return_timestamps=None):
        rate = self.feature_extractor.sampling_rate
        windows = [{key: value for key, value in output.items()
                    if key in ("tokens", "token_timestamps")} | ({"stride": tuple(
                        n / rate for n in output["stride"])} if "stride" in output else {})
                   for output in outputs]
        precision = self.feature_extractor.chunk_length / self.model.config.max_source_positions
        text, optional = self.tokenizer.decode_asr(
            windows, return_timestamps if return_timestamps == "word" else
            bool(return_timestamps), time_precision=precision)
        return {"text": text, **optional}


def _mono(audio) -> np.ndarray:
    audio = _numpy(audio)
    if audio.dtype.kind not in "iuf":
        raise TypeError(f"automatic-speech-recognition: expected a waveform of numbers, got "
                        f"{audio.dtype}")
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    elif audio.ndim == 2:  # (channels, time) as transformers' _to_mono
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
    if audio.ndim != 1:
        raise ValueError(f"automatic-speech-recognition: expected a mono waveform (samples,), "
                         f"got shape {audio.shape}")
    return audio.astype(np.float32)


# ------------------------------------------------------------------------------- the factory
# task -> (Pipeline class, the Auto class that loads its model, what it needs)
SUPPORTED_TASKS: dict[str, tuple[type[Pipeline], type]] = {
    "fill-mask": (FillMaskPipeline, auto.AutoModelForMaskedLM),
    "text-classification": (TextClassificationPipeline, auto.AutoModelForSequenceClassification),
    "token-classification": (TokenClassificationPipeline, auto.AutoModelForTokenClassification),
    "question-answering": (QuestionAnsweringPipeline, auto.AutoModelForQuestionAnswering),
    "feature-extraction": (FeatureExtractionPipeline, auto.AutoModel),
    "text-generation": (TextGenerationPipeline, auto.AutoModelForCausalLM),
    "text2text-generation": (Text2TextGenerationPipeline, auto.AutoModelForSeq2SeqLM),
    "summarization": (SummarizationPipeline, auto.AutoModelForSeq2SeqLM),
    "translation": (TranslationPipeline, auto.AutoModelForSeq2SeqLM),
    "image-classification": (ImageClassificationPipeline, auto.AutoModelForImageClassification),
    "zero-shot-image-classification": (ZeroShotImageClassificationPipeline,
                                       auto.AutoModelForZeroShotImageClassification),
    "automatic-speech-recognition": (AutomaticSpeechRecognitionPipeline,
                                     auto.AutoModelForSpeechSeq2Seq),
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
# an architecture's name ending -> its task, for pipeline(model=path) without a task
_BY_ARCHITECTURE = (("ForMaskedLM", "fill-mask"),
                    ("ForSequenceClassification", "text-classification"),
                    ("ForTokenClassification", "token-classification"),
                    ("ForQuestionAnswering", "question-answering"),
                    ("ForCausalLM", "text-generation"), ("LMHeadModel", "text-generation"),
                    ("WhisperForConditionalGeneration", "automatic-speech-recognition"),
                    ("ForConditionalGeneration", "text2text-generation"),
                    ("ForImageClassification", "image-classification"),
                    ("CLIPModel", "zero-shot-image-classification"))


def _task_name(task: str) -> tuple[str, str]:
    """(the canonical task, the name to look up task_specific_params with)."""
    if not isinstance(task, str):
        raise TypeError(f"pipeline: task must be a string, got {type(task).__name__}")
    if task in TASK_ALIASES:
        return TASK_ALIASES[task], task
    if task in SUPPORTED_TASKS:
        return task, task
    parts = task.split("_")
    if task.startswith("translation") and len(parts) == 4 and parts[0] == "translation" \
            and parts[2] == "to":
        return "translation", task
    raise KeyError(f"Unknown task {task}, available tasks are "
                   f"{sorted([*SUPPORTED_TASKS, *TASK_ALIASES])} + ['translation_XX_to_YY']")


def _guess_task(path) -> str:
    config = os.path.join(os.fspath(path), "config.json")
    with open(config, encoding="utf-8") as f:
        architectures = json.load(f).get("architectures") or []
    for name in architectures:
        for ending, task in _BY_ARCHITECTURE:
            if name.endswith(ending):
                return task
    raise RuntimeError(f"pipeline: no task given and none follows from {config}'s "
                       f"architectures {architectures}; pass the task")


def _load_model(task: str, auto_class, model):
    if _is_path(model):
        if not os.path.isdir(model):
            raise FileNotFoundError(f"pipeline {task!r}: no model directory {os.fspath(model)!r} "
                                    f"(dlpy reads local checkpoint directories; nothing is "
                                    f"downloaded)")
        try:
            return auto_class.from_pretrained(model)
        except ValueError as err:
            raise ValueError(f"pipeline {task!r} needs {auto_class.__name__}: {err}") from None
    heads = {target.rsplit(".", 1)[1] for target in auto_class.mapping.values()}
    if auto_class is not auto.AutoModel and type(model).__name__ not in heads:
        raise ValueError(f"pipeline {task!r}: the model {type(model).__name__} has no head for "
                         f"this task; expected one of {', '.join(sorted(heads))}")
    if not callable(model):
        raise TypeError(f"pipeline {task!r}: model must be a checkpoint directory or a dlpy "
                        f"model, got {type(model).__name__}")
    return model


def _load_part(kind: str, value, model_path, loader):
    """A tokenizer / image processor / feature extractor: given, read from a directory, or
    read from the model's directory when that holds one."""
    if value is not None and not _is_path(value):
        return value
    if value is not None:
        return loader(value)
    if model_path is None:
        return None
    files = {"tokenizer": "tokenizer.json"}.get(kind, "preprocessor_config.json")
    return loader(model_path) if os.path.exists(os.path.join(model_path, files)) else None


def pipeline(task: str | None = None, model=None, tokenizer=None, image_processor=None,
             feature_extractor=None, device=None, dtype=None, batch_size: int | None = None,
             **kwargs) -> Pipeline:
    """The Pipeline of ``task`` on ``model`` (a local checkpoint directory or a dlpy model);
    the tokenizer / image processor / feature extractor are read from the model's directory
    unless given (objects or directories). ``device``: None, "cpu" or -1 (dlpy runs on the
    CPU); ``dtype``: the parameters' dtype ("auto" / None: as loaded, float32). Other keywords
    are the task's defaults (top_k=, aggregation_strategy=, max_new_tokens=...)."""
    if model is None:
        raise ValueError("pipeline: no model given; dlpy downloads nothing, so pass model= a "
                         "local checkpoint directory or a dlpy model")
    if task is None:
        if not _is_path(model):
            raise ValueError("pipeline: pass the task when model is an object")
        task = _guess_task(model)
    canonical, name = _task_name(task)
    cls, auto_class = SUPPORTED_TASKS[canonical]
    model_path = os.fspath(model) if _is_path(model) else None
    loaded = _load_model(name, auto_class, model)
    if device not in (None, -1, "cpu"):
        loaded.to(device)  # raises: dlpy has only the CPU
    if dtype is not None and not (isinstance(dtype, str) and dtype == "auto"):
        if isinstance(dtype, str):  # "float16" -> dlpy.float16 (a string alone names a device)
            import dlpy
            name, dtype = dtype, getattr(dlpy, dtype.removeprefix("torch."), None)
            if dtype is None:
                raise ValueError(f"pipeline: unknown dtype {name!r}; expected a dlpy dtype or "
                                 f"its name (float32, float16, bfloat16)")
        loaded.to(dtype)
    loaded.eval()
    parts = {}
    if "tokenizer" in cls.needs:
        parts["tokenizer"] = _load_part("tokenizer", tokenizer, model_path,
                                        auto.AutoTokenizer.from_pretrained)
    elif tokenizer is not None:
        parts["tokenizer"] = _load_part("tokenizer", tokenizer, None,
                                        auto.AutoTokenizer.from_pretrained)
    if "image_processor" in cls.needs:
        parts["image_processor"] = _load_part("image_processor", image_processor, model_path,
                                              auto.AutoImageProcessor.from_pretrained)
    if "feature_extractor" in cls.needs:
        parts["feature_extractor"] = _load_part("feature_extractor", feature_extractor,
                                                model_path,
                                                auto.AutoFeatureExtractor.from_pretrained)
    if issubclass(cls, Text2TextGenerationPipeline) and model_path is not None:
        # config.json's prefix and task_specific_params, which dlpy's configs do not keep
        with open(os.path.join(model_path, "config.json"), encoding="utf-8") as f:
            values: dict[str, Any] = json.load(f)
        kwargs.setdefault("prefix", values.get("prefix"))
        kwargs.setdefault("task_specific_params", values.get("task_specific_params"))
    return cls(loaded, task=name, batch_size=batch_size, **parts, **kwargs)
