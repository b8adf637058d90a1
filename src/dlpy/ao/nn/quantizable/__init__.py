"""torch.ao.nn.quantizable (also torch.nn.quantizable): LSTM, LSTMCell and MultiheadAttention
decomposed into Linear layers and FloatFunctional ops, so that eager-mode quantization can put
an observer on every intermediate result. In float they compute what nn.LSTM / nn.LSTMCell /
nn.MultiheadAttention compute (values and gradients); ``from_float`` builds one from the float
module (sharing its weights) and ``prepare``s it."""

from dlpy.ao.nn.quantizable import modules
from dlpy.ao.nn.quantizable.modules import LSTM, LSTMCell, MultiheadAttention

__all__ = ["LSTM", "LSTMCell", "MultiheadAttention", "modules"]
