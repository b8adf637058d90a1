"""The sequence / NLP programs of examples/pytorch run unchanged on dlpy (through dlpy.compat,
in-process) and learn: the word-level language model (LSTM, GRU with tied weights, the
Transformer; whole-model torch.save / torch.load), time-sequence prediction (LSTM cells in
float64, L-BFGS), a GRU seq2seq with attention, a character-level LSTM sampler and a small
character-level GPT (a causal-mask buffer, tied weights, AdamW groups, LambdaLR, a checkpoint,
top-k sampling)."""

import json
import random
from pathlib import Path

import pytest

from dlpy import compat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytorch"


def run(capsys, script: str, *args: str) -> dict:
    compat.run([str(EXAMPLES / script), *args])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out[-2000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """train/valid/test.txt of a tiny two-pattern language (12 words with <eos>)."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = random.Random(0)

    def sentence():
        return (f"{rng.choice(['the cat', 'a dog'])} {rng.choice(['sees', 'likes'])} the "
                f"{rng.choice(['red', 'big'])} {rng.choice(['ball', 'tree'])} .")

    for name, count in (("train", 300), ("valid", 30), ("test", 30)):
        (folder / f"{name}.txt").write_text("\n".join(sentence() for _ in range(count)) + "\n")
    return folder


SMALL_LM = ["--emsize", "16", "--nhid", "16", "--bptt", "10", "--batch-size", "10",
            "--nlayers", "1", "--epochs", "3", "--log-interval", "1000"]


@pytest.mark.parametrize("model, extra", [
    ("LSTM", ["--lr", "5"]),
    ("GRU", ["--lr", "5", "--tied"]),
    ("Transformer", ["--lr", "2", "--nhid", "32", "--nhead", "2"]),
])
def test_word_language_model_learns_saves_and_reloads(capsys, corpus, tmp_path, model, extra):
    save = tmp_path / "model.pt"
    result = run(capsys, "word_language_model.py", "--data", str(corpus), "--model", model,
                 "--save", str(save), *SMALL_LM, *extra)
    assert result["model"] == model and result["vocab"] == 12
    assert result["first_ppl"] > 9  # a uniform guess over 12 words: 12
    assert result["last_loss"] < 0.5 * result["first_loss"], result
    assert result["val_ppl"][-1] < 3.0 and result["test_ppl"] < 3.0, result  # reloaded model
    assert save.stat().st_size > 0


def test_time_sequence_prediction_fits_sine_waves_with_lbfgs(capsys):
    result = run(capsys, "time_sequence_prediction.py", "--steps", "1", "--waves", "5",
                 "--length", "50", "--future", "10", "--hidden", "16")
    assert result["evaluations"] == 20  # L-BFGS's max_iter closure calls in one step
    assert result["last_loss"] < 0.05 * result["first_loss"], result
    assert result["last_test_loss"] < 0.1 and 0.3 < result["future_max_abs"] < 2, result


def test_seq2seq_with_attention_learns_to_reverse(capsys):
    result = run(capsys, "seq2seq_attention.py", "--steps", "150", "--length", "4",
                 "--hidden", "32", "--batch-size", "32", "--log-interval", "50",
                 "--eval-size", "200")
    assert result["last_loss"] < 0.3 * result["first_loss"], result
    assert result["token_accuracy"] > 0.8 and result["exact_match"] > 0.5, result  # chance 0.1


def test_char_rnn_learns_and_samples_with_multinomial(capsys):
    result = run(capsys, "char_rnn_generate.py", "--steps", "60", "--hidden", "32",
                 "--seq-len", "32", "--gen-lines", "300", "--sample-length", "50",
                 "--log-interval", "20")
    assert result["last_loss"] < 0.5 * result["first_loss"], result
    assert result["val_bits_per_char"] < 2.0, result  # uniform over 23 characters: 4.5 bits
    assert result["sample_chars"] == 51 and result["sample_in_vocab"]


def test_min_gpt_learns_a_grammar_saves_reloads_and_samples(capsys, tmp_path):
    # the causal mask is a registered buffer sliced per context (`self.mask[:, :, :T, :T]`)
    result = run(capsys, "min_gpt.py", "--steps", "100", "--n-embd", "32", "--n-layer", "1",
                 "--block-size", "16", "--eval-interval", "50", "--eval-iters", "2",
                 "--batch-size", "8", "--warmup", "10", "--sample-len", "40", "--checkpoint",
                 str(tmp_path / "gpt.pt"))
    assert result["first_val"] > 2.9  # about log(23): nothing learnt yet
    assert result["last_val"] < 0.6 * result["first_val"], result
    assert result["reload_equal"] and len(result["sample"]) == 41
