"""torch.ao.nn.quantizable.modules: the quantizable LSTM (rnn) and MultiheadAttention
(activation)."""

from dlpy.ao.nn.quantizable.modules.activation import MultiheadAttention
from dlpy.ao.nn.quantizable.modules.rnn import LSTM, LSTMCell

__all__ = ["LSTM", "LSTMCell", "MultiheadAttention"]
