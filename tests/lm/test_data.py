"""The streaming reader: documents, bad UTF-8 lines skipped and counted, essays from zips,
the held-out split, packing, and a stream that replays deterministically."""

import numpy as np
import pytest

from dlpy.lm.data import (
    ReadStats,
    SequenceStream,
    essay_text,
    pack,
    read_documents,
    split_documents,
)

from .conftest import write_essay_zip, write_text_corpus


def test_bad_utf8_lines_are_skipped_and_counted(tmp_path):
    path = write_text_corpus(tmp_path / "c.txt.gz", ["첫 줄\n둘째 줄", "다음 문서"],
                             bad_lines=[b"\xff\xfe\xfd", b"caf\xe9"])
    stats = ReadStats()
    documents = list(read_documents(path, stats))
    assert documents == ["첫 줄\n둘째 줄", "다음 문서"]
    assert stats.bad_lines == 2 and stats.documents == 2
    assert stats.bad_where[0] == f"{path}:2"


def test_plain_text_and_missing_file(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("하나\n\n\n둘\n셋\n", encoding="utf-8")
    assert list(read_documents(path)) == ["하나", "둘\n셋"]
    with pytest.raises(FileNotFoundError, match="nothing.txt.gz"):
        list(read_documents(tmp_path / "nothing.txt.gz"))


def test_essay_zip_strips_sentence_markers(tmp_path):
    path = write_essay_zip(tmp_path / "e.zip", [[["첫 문장.", "둘째 문장."], ["새 문단."]]])
    stats = ReadStats()
    assert list(read_documents(path, stats)) == ["첫 문장. 둘째 문장.\n새 문단."]
    assert stats.bad_members == 1  # the broken member is counted, not fatal
    assert essay_text({"paragraph": []}) == ""


def test_heldout_split_is_every_nth_document():
    docs = [str(i) for i in range(10)]
    assert list(split_documents(docs, 4, heldout=True)) == ["0", "4", "8"]
    assert list(split_documents(docs, 4, heldout=False)) == ["1", "2", "3", "5", "6", "7", "9"]
    assert list(split_documents(docs, 0, heldout=True)) == []


def test_pack_cuts_exact_lengths_with_separators():
    sequences = list(pack([[5, 6, 7], [8, 9], [10, 11, 12, 13]], seq_len=4, separator=3))
    assert [s.tolist() for s in sequences] == [[5, 6, 7, 3], [8, 9, 3, 10], [11, 12, 13, 3]]
    assert sequences[0].dtype == np.int32


def test_stream_interleaves_replays_and_skips(corpus_dir, tokenizer):
    paths = [str(corpus_dir / "text.txt.gz"), str(corpus_dir / "essays.zip")]

    def stream():
        return SequenceStream(paths, tokenizer.encode, seq_len=16, separator=3,
                              heldout_every=10, shuffle_buffer=8, seed=1)

    first = [b.copy() for _, b in zip(range(5), stream().batches(4))]
    again = [b.copy() for _, b in zip(range(5), stream().batches(4))]
    skipped = [b.copy() for _, b in zip(range(3), stream().batches(4, skip=8))]
    assert all(b.shape == (4, 16) for b in first)
    assert all((a == b).all() for a, b in zip(first, again))
    assert all((a == b).all() for a, b in zip(first[2:], skipped))
    heldout = SequenceStream(paths, tokenizer.encode, 16, 3, heldout_every=10, heldout=True,
                             shuffle_buffer=0, repeat=False)
    train_rows = {tuple(r) for b in first for r in b}
    assert not train_rows & {tuple(s) for s in heldout}


def test_stream_start_begins_each_epoch_part_way_and_wraps(tmp_path):
    """--data-start 0.5: an epoch reads each file's training documents from the middle on,
    then the first half; every document once."""
    write_text_corpus(tmp_path / "a.txt.gz", [f"doc {i}" for i in range(20)])
    encode = lambda text: [100 + int(text.split()[1])]  # noqa: E731 (one token per document)

    def first_tokens(**kwargs):
        stream = SequenceStream([str(tmp_path / "a.txt.gz")], encode, seq_len=2, separator=3,
                                heldout_every=5, shuffle_buffer=0, repeat=False, **kwargs)
        return [int(sequence[0]) - 100 for sequence in stream]

    plain = first_tokens()
    assert plain == [i for i in range(20) if i % 5]  # 16 training documents in order
    assert first_tokens(start=0.5) == plain[8:] + plain[:8]
    assert first_tokens(start=0.5, heldout=True) == [10, 15, 0, 5]
    with pytest.raises(ValueError, match="start must be in"):
        SequenceStream([str(tmp_path / "a.txt.gz")], encode, 2, 3, start=1.0)


def test_file_weights_set_each_files_share(tmp_path):
    """--file-weights 3 1: three sequences of the first file for one of the second while both
    last, then the rest of the longer one; every sequence once; equal weights = round-robin."""
    write_text_corpus(tmp_path / "a.txt.gz", [f"doc {i}" for i in range(12)])
    write_text_corpus(tmp_path / "b.txt.gz", [f"doc {i}" for i in range(50, 62)])
    paths = [str(tmp_path / "a.txt.gz"), str(tmp_path / "b.txt.gz")]
    encode = lambda text: [100 + int(text.split()[1])]  # noqa: E731

    def firsts(weights):
        stream = SequenceStream(paths, encode, seq_len=2, separator=3, heldout_every=0,
                                shuffle_buffer=0, repeat=False, weights=weights)
        return [int(sequence[0]) - 100 for sequence in stream]

    weighted = firsts([3, 1])
    source = ["a" if i < 50 else "b" for i in weighted]
    assert "".join(source) == "aaba" * 4 + "b" * 8  # a runs out after 12, then b alone
    assert sorted(weighted) == list(range(12)) + list(range(50, 62))
    assert firsts([1, 1]) == firsts(None) == [x for pair in zip(range(12), range(50, 62))
                                              for x in pair]
    for bad in ([1], [1, 0], [1, float("nan")]):
        with pytest.raises(ValueError, match="one positive weight per file"):
            SequenceStream(paths, encode, 2, 3, weights=bad)
