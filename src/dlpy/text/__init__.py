"""Korean text for dlpy: morphological analysers, an analysis cache, word vectors with OOV
resolution, and Kiwi's morpheme vectors rebuilt offline. Needs the `[korean]` extra (kiwipiepy)
for Kiwi, `[kkma]` (konlpy + Java) for Kkma; word vectors need only numpy."""

from .analysis import (
    SENTENCE_MARKER,
    Analyzer,
    AnalyzerUnavailable,
    KiwiAnalyzer,
    KkmaAnalyzer,
    get_analyzer,
    parse_reference_format,
    split_marked,
    to_reference_format,
    token_counts,
    token_f1,
)
from .cache import AnalysisCache, default_cache_dir, sha256_file
from .vectors import OOVReport, WordVectors, load_vectors

__all__ = [
    "SENTENCE_MARKER", "Analyzer", "AnalyzerUnavailable", "KiwiAnalyzer", "KkmaAnalyzer",
    "get_analyzer", "parse_reference_format", "split_marked", "to_reference_format",
    "token_counts", "token_f1", "AnalysisCache", "default_cache_dir", "sha256_file",
    "OOVReport", "WordVectors", "load_vectors", "export_kiwi_vectors",
]


def export_kiwi_vectors(*args, **kwargs):
    """See `dlpy.text.kiwi_vectors.export_kiwi_vectors` (imported lazily: it needs kiwipiepy)."""
    from .kiwi_vectors import export_kiwi_vectors as export

    return export(*args, **kwargs)
