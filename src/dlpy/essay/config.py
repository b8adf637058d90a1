"""The essay scorer's settings: one dataclass, whose fields are also the CLI options.

    config = EssayConfig(family="essaynet", epochs=10)
    add_config_arguments(parser)                 # --family, --epochs, ... with help and defaults
    config = config_from_args(args)
    config = EssayConfig(**PRESETS["aihub"])     # the bundled model's recipe (--preset aihub)

A new setting is one field here (its help in `metadata["help"]`); `dlpy essay train/cv` pick it
up. The family (`dlpy.essay.families`) reads the fields it needs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields


def _option(default, help: str):  # noqa: A002 (argparse's word)
    return field(default=default, metadata={"help": help})


@dataclass
class EssayConfig:
    family: str = _option("essaynet", "model family: essaynet (wide + statistics [+ deep]) or "
                          "seed (the report's transformer)")
    epochs: int = _option(12, "maximum number of epochs (early stopping may end sooner)")
    batch_size: int = _option(64, "essays per mini-batch")
    lr: float = _option(2e-3, "learning rate (seed: the base of lr = base / 10^(epoch // 2))")
    weight_decay: float = _option(0.0, "AdamW's decoupled weight decay")
    l2_wide: float = _option(2.0, "ridge penalty on the shared n-gram weights (per training "
                             "essay)")
    l2_group: float = _option(8.0, "ridge penalty on the per-category (and per-prompt) n-gram "
                              "weights, which shrinks them toward the shared ones")
    clip: float = _option(5.0, "gradient norm clipping")
    patience: int = _option(3, "epochs without a better validation RMSE before stopping")
    val_fraction: float = _option(0.1, "share of the training essays (whole collection batches) "
                                  "held out for early stopping and calibration")
    seed: int = _option(0, "random seed (initialisation, batches, validation split)")
    max_len: int = _option(384, "morphemes per essay seen by the deep part")
    embedding_dim: int = _option(32, "morpheme embedding size when no --vectors are given")
    d_model: int = _option(0, "width of the deep part; 0 drops it (measured in CV, "
                           "docs/essay.md)")
    num_layers: int = _option(1, "transformer layers of the deep part")
    num_heads: int = _option(4, "attention heads")
    dim_feedforward: int = _option(64, "feed-forward width of the transformer")
    hidden: int = _option(32, "hidden units of the statistics MLP")
    dropout: float = _option(0.0, "dropout in the deep part")
    train_embeddings: bool = _option(False, "also train the (pretrained) morpheme embeddings")
    criteria_weight: float = _option(0.5, "loss weight of each criterion (the total has 1)")
    wide_gain: float = _option(1.0, "the n-gram weights learn at wide_gain * lr")
    max_char_ngrams: int = _option(20000, "character 1-3-grams kept (most frequent)")
    max_morpheme_ngrams: int = _option(20000, "morpheme 1-2-grams kept (most frequent)")
    morpheme_weight: float = _option(0.5, "length of the morpheme block of an essay's n-gram "
                                     "row (the character block has length 1)")
    spacing_features: bool = _option(True, "use the count of spaces Kiwi's spacing model would "
                                     "insert (spacing errors; slow to count on a new corpus)")
    balance: float = _option(0.0, "reweight the loss toward rare scores: an essay weighs "
                             "(share of training essays in its 3-point score bin) ^ -balance, "
                             "normalised to a mean of 1 (0: plain squared error)")
    relevance_features: bool = _option(True, "use the weak-essay statistics: similarity to the "
                                       "prompt text and to the prompt's essays, repeated "
                                       "sentences, length relative to the prompt's essays")
    batch_center: float = _option(0.0, "remove this share (0-1) of each collection batch's "
                                  "shrunken score level from the training targets (the raters' "
                                  "level of a run, which no text feature predicts; needs "
                                  "numbered essay ids; 0: off)")
    prompt_copies: bool = _option(False, "also give every prompt its own copy of the n-gram "
                                  "weights (penalised by --l2-group, like the category copies)")
    refit: bool = _option(False, "after early stopping, train a fresh model on all the essays "
                          "(the validation split included) for the best number of epochs; the "
                          "calibration stays the one fitted on the validation split")
    ema: float = _option(0.0, "keep an exponential moving average of the weights (this decay "
                         "per mini-batch, e.g. 0.998) and validate, early-stop and save with it "
                         "(dlpy.optim.swa_utils); 0: off, the last weights")
    ngram_dropout: float = _option(0.0, "in training, drop each n-gram entry of an essay's "
                                   "row with this probability and scale the rest by 1 / (1 - "
                                   "p) (inverted dropout on the wide part's input); 0: off")
    lm_features: str = _option("", "add the pretrained LM's pooled features of the whole essay "
                               "(frozen) through their own linear map: 'bundled' (dlpy.lm's "
                               "encoder) or an LM folder (`dlpy lm export`); '' for none")

    @classmethod
    def from_dict(cls, values: dict) -> EssayConfig:
        names = {f.name for f in fields(cls)}
        values = dict(values)
        if "arch" in values and "family" not in values:  # models saved before the rename
            values["family"] = values["arch"]
        for name, value in ADDED_LATER.items():  # saved before the setting existed
            values.setdefault(name, value)
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """SHA-256 of the settings that shape the run (what --resume checks); `epochs` and
        `patience` are left out, so a run can be resumed to train longer, and so are settings
        added later while they keep their default, so older checkpoints still resume."""
        values = {k: v for k, v in self.to_dict().items() if k not in ("epochs", "patience")
                  and not (k in ADDED_LATER and v == ADDED_LATER[k])}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


TrainConfig = EssayConfig  # the old name

# settings added after checkpoints were made, with the value that reproduces the older runs
ADDED_LATER = {"balance": 0.0, "lm_features": "", "batch_center": 0.0, "refit": False,
               "prompt_copies": False, "ema": 0.0, "morpheme_weight": 0.5,
               "ngram_dropout": 0.0}


# Named recipes: settings measured together on a corpus (docs/essay.md). `--preset aihub` is
# how the bundled model was trained on the 38,626 AI Hub essays; its lr and weight average
# are tuned to ~540 mini-batches per epoch, so a corpus a tenth that size wants the defaults.
PRESETS: dict[str, dict] = {
    "aihub": {"epochs": 3, "patience": 1, "lr": 5e-4, "spacing_features": False,
              "balance": 0.5, "refit": True, "prompt_copies": True, "ema": 0.99,
              "max_char_ngrams": 60000, "max_morpheme_ngrams": 60000},
}


def add_config_arguments(parser: argparse.ArgumentParser, cls=EssayConfig) -> None:
    """One option per field: `--batch-size N`, `--train-embeddings` for booleans; the help text
    and the default come from the field. `--preset NAME` starts from a named recipe."""
    from dlpy.essay.families import FAMILIES

    recipes = "; ".join(f"{name}: " + " ".join(_as_options(values))
                        for name, values in PRESETS.items())
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a named recipe; options given beside it win "
                             f"({recipes})")

    for f in fields(cls):
        option = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        overridden = {name: family.defaults[f.name] for name, family in FAMILIES.items()
                      if f.name in family.defaults}
        if overridden:
            help_text += "; " + ", ".join(f"{v} for --family {k}" for k, v in overridden.items())
        # the default is applied in config_from_args, so a family can override it
        if f.type in (bool, "bool"):
            parser.add_argument(option, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif f.name == "family":
            parser.add_argument(option, choices=sorted(FAMILIES), default=None,
                                help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), f.type)
            parser.add_argument(option, type=kind, default=None, help=help_text,
                                metavar=f.name.split("_")[-1].upper())


def _as_options(values: dict) -> list[str]:
    """A preset as the command-line options that spell it: `--lr 0.0005 --refit ...`."""
    words = []
    for name, value in values.items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(option if value else "--no-" + option[2:])
        else:
            words += [option, str(value)]
    return words


def config_from_args(args: argparse.Namespace, cls=EssayConfig) -> EssayConfig:
    """The config the parsed options describe: the options given, else the preset's
    settings (`--preset`), else the family's defaults (e.g. the seed family's learning rate),
    else the field defaults."""
    from dlpy.essay.families import get_family

    given = {f.name: getattr(args, f.name) for f in fields(cls)
             if getattr(args, f.name, None) is not None}
    preset = getattr(args, "preset", None)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    recipe = PRESETS[preset] if preset is not None else {}
    family = get_family(given.get("family", recipe.get("family", cls.family)))
    return cls(**{**family.defaults, **recipe, **given})
