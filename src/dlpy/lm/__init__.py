"""dlpy.lm: a Korean masked language model pretrained with dlpy (docs/lm.md).

    from dlpy.lm import load_pretrained
    lm = load_pretrained()                       # the bundled encoder (or a run's folder)
    lm.fill_mask("대한민국의 수도는 [MASK]이다.")
    features = lm.pooled_features(texts)        # (n, 256): mean of the final hidden states
    ids, padding = lm.encode(texts)             # for fine-tuning lm.encoder
    hidden = lm.encoder.encode(ids, key_padding_mask=padding)   # (n, seq, 256), differentiable
"""

from dlpy.lm.fill import PretrainedLM, export, load_pretrained
from dlpy.lm.model import LMConfig, MaskedLM
from dlpy.lm.tokenizer import Tokenizer, train_tokenizer

__all__ = ["LMConfig", "MaskedLM", "PretrainedLM", "Tokenizer", "export", "load_pretrained",
           "train_tokenizer"]
