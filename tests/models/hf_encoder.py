"""What the encoder tests share: the transformers reference values of
tests/fixtures/make_hf_encoder_fixtures.py and the models they describe, built with dlpy."""

import warnings
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BERT_DIR = FIXTURES / "hf_encoder_bert_mlm"
TOKENIZER_DIR = FIXTURES / "hf_encoder_tokenizer"
HEADS = ("mlm", "seq", "regression", "tok", "qa")
NUM_LABELS = {"mlm": 2, "seq": 3, "regression": 1, "tok": 3, "qa": 2}

_cache = {}


def reference() -> dict[str, np.ndarray]:
    """hf_encoder.npz, read once."""
    if not _cache:
        with np.load(FIXTURES / "hf_encoder.npz") as data:
            _cache.update(data.items())
    return _cache


def group(prefix: str) -> dict[str, np.ndarray]:
    """The arrays named prefix/<name>, by name."""
    return {key[len(prefix) + 1:]: value for key, value in reference().items()
            if key.startswith(prefix + "/")}


def weights(family: str, head: str | None = None) -> dict[str, np.ndarray]:
    """A transformers state dict: the family's encoder weights (under "<family>." when a head is
    named) and that head's own."""
    base = {key: value for key, value in group(f"{family}/base").items()
            if not key.startswith("out/")}
    if head is None:
        return base
    state = {f"{family}.{key}": value for key, value in base.items()}
    state.update((key, value) for key, value in group(f"{family}/{head}").items()
                 if not key.startswith(("out/", "grad/", "train_losses")))
    return state


def build(model_class, config_class, family: str, head: str | None, sizes: dict):
    """model_class with the fixture's config and the reference weights loaded, in eval mode
    (the encoder's pooler left out where the head has none; any other missing or unused weight
    is an error)."""
    config = config_class(num_labels=NUM_LABELS.get(head, 2), **sizes)
    model = model_class(config, rng=np.random.default_rng(0))
    own = dict(model.named_parameters())
    state = {key: value for key, value in weights(family, head).items()
             if key in own or "pooler" not in key}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_pretrained_state(state, f"{family}/{head}")
    return model.eval()


def feed(family: str, token_types: bool = True) -> dict[str, np.ndarray]:
    x = group(f"{family}/inputs")
    out = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"]}
    if token_types:
        out["token_type_ids"] = x["token_type_ids"]
    return out


def labels_for(family: str, head: str) -> dict:
    x = group(f"{family}/inputs")
    return {"mlm": {"labels": x["mlm_labels"]}, "seq": {"labels": x["class_labels"]},
            "regression": {"labels": x["regression_labels"].astype(np.float32)},
            "tok": {"labels": x["token_labels"]},
            "qa": {"start_positions": x["start_positions"],
                   "end_positions": x["end_positions"]}}[head]


def close(actual, expected, rtol=1e-5, atol=1e-5) -> None:
    actual = actual.numpy() if hasattr(actual, "numpy") else np.asarray(actual)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def check_head(model, family: str, head: str, token_types: bool = True) -> None:
    """The head's outputs and loss equal transformers'."""
    out = model(**feed(family, token_types), **labels_for(family, head))
    expected = group(f"{family}/{head}/out")
    for name, value in expected.items():
        if name == "multi_label_loss":
            continue
        close(getattr(out, name), value)
    if "multi_label_loss" in expected:  # float labels: multi-label BCE
        model.config.problem_type = None
        x = group(f"{family}/inputs")
        loss = model(**feed(family, token_types),
                     labels=x["multi_labels"].astype(np.float32)).loss
        model.config.problem_type = None
        close(loss, expected["multi_label_loss"])


def check_base(model, family: str, token_types: bool = True) -> None:
    out = model(**feed(family, token_types), output_hidden_states=True, output_attentions=True)
    expected = group(f"{family}/base/out")
    close(out.last_hidden_state, expected["last_hidden_state"])
    if "pooler_output" in expected:
        close(out.pooler_output, expected["pooler_output"])
    close(np.stack([h.numpy() for h in out.hidden_states]), expected["hidden_states"])
    close(np.stack(out.attentions), expected["attentions"])


def check_gradients(model, family: str, head: str, token_types: bool = True) -> None:
    model.zero_grad()
    model(**feed(family, token_types), **labels_for(family, head)).loss.backward()
    parameters = dict(model.named_parameters())
    expected = group(f"{family}/{head}/grad")
    assert expected
    for name, value in expected.items():
        close(parameters[name].grad, value, atol=1e-5)
