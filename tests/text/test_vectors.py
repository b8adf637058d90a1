import numpy as np
import pytest

from dlpy.text import WordVectors, load_vectors


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_load_plain_vec(tmp_path):
    path = write(tmp_path / "a.vec", "3 2\n학교 1 2\n학생 3 4\nschool 5.5 -6e-1\n".encode())
    wv = load_vectors(path)
    assert wv.words == ["학교", "학생", "school"]
    assert wv.vectors.dtype == np.float32 and wv.vectors.shape == (3, 2) and wv.dim == 2
    np.testing.assert_allclose(wv["school"], [5.5, -0.6])
    assert "학생" in wv and "선생" not in wv and wv.skipped == 0
    with pytest.raises(KeyError, match="'선생' is not in the vocabulary"):
        wv["선생"]


def test_hostile_vec(tmp_path):
    nbsp_word = "뉴\u00a0욕"  # a no-break space inside a token: split from the right
    rows = [
        "학교 0.1 0.2 0.3 ",               # fastText's trailing space
        f"{nbsp_word} 1 1 1",
        "두 단어 2 2 2",                    # an ASCII space inside the token
        "학교 9 9 9",                        # duplicate: keep the first
        "짧음 1 2",                          # too few values
        "김\u3000밥 3 3 3",                  # ideographic space inside the token
        "숫자아님 1 x 3",                    # not a number
        "무한 1 inf 3",                      # not finite
        "",                                  # blank line: ignored
    ]
    body = "\r\n".join(rows).encode("utf-8")
    bad_utf8 = b"\xed\x95 4 4 4\r\n"          # a truncated UTF-8 sequence, like cc.ko.300.vec
    data = b"\xef\xbb\xbf" + b"12 3\r\n" + body + b"\r\n" + bad_utf8 + "끝 5 5 5\r\n".encode()
    wv = load_vectors(write(tmp_path / "hostile.vec", data))
    assert wv.words == ["학교", nbsp_word, "두 단어", "김\u3000밥", "끝"]
    np.testing.assert_allclose(wv["학교"], [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(wv["끝"], [5, 5, 5])
    assert wv.skipped == 5
    assert wv.skip_reasons == {
        "duplicate word '학교' (kept the first)": 1, "expected 3 values, got 2": 1,
        "a value is not a number": 1, "a value is not finite": 1,
        "invalid UTF-8 in the word": 1}
    assert any("hostile.vec:5: skipped, duplicate" in p for p in wv.problems)
    # the header claims 12 rows, the file has 10: reported, not fatal
    assert wv.header_count == 12
    assert any("header says 12 rows, the file has 10" in p for p in wv.problems)


def test_bad_row_in_large_chunk_keeps_the_rest(tmp_path):
    lines = [f"w{i} {i} {i + 0.5}" for i in range(50_000)]
    lines[30_000] = "w30000 1 oops"
    wv = load_vectors(write(tmp_path / "big.vec", ("\n".join(lines) + "\n").encode()))
    assert len(wv) == 49_999 and wv.skipped == 1 and wv.header_count is None
    np.testing.assert_allclose(wv["w49999"], [49999, 49999.5])


def test_limit_and_no_header(tmp_path):
    path = write(tmp_path / "glove.txt", "가 1 2\n나 3 4\n다 5 6\n".encode())
    wv = load_vectors(path, limit=2)
    assert wv.words == ["가", "나"] and wv.header_count is None
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_vectors(tmp_path / "missing.vec")
    with pytest.raises(ValueError, match="limit >= 1"):
        load_vectors(path, limit=0)


def test_save_round_trip_text_and_binary(tmp_path):
    rng = np.random.default_rng(0)
    wv = WordVectors(["하나", "둘 셋", "넷"], rng.standard_normal((3, 4)).astype(np.float32))
    wv.save(tmp_path / "v.vec")
    back = load_vectors(tmp_path / "v.vec")
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cannot write word '둘 셋'.*binary"):
        wv.save(tmp_path / "v.bin")
    wv = WordVectors(["하나", "둘", "넷"], wv.vectors)
    wv.save(tmp_path / "v.bin")
    back = load_vectors(tmp_path / "v.bin")
    assert back.words == wv.words and np.array_equal(back.vectors, wv.vectors)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write leaves no temp file


def test_binary_truncated(tmp_path):
    good = WordVectors(["가", "나"], np.ones((2, 3), np.float32))
    good.save(tmp_path / "v.bin")
    data = (tmp_path / "v.bin").read_bytes()
    write(tmp_path / "cut.bin", data.replace(b"2 3\n", b"3 3\n", 1) + "다 ".encode())
    wv = load_vectors(tmp_path / "cut.bin")
    assert wv.words == ["가", "나"] and wv.skipped == 1
    assert "truncated" in next(iter(wv.skip_reasons))


def vocab(*words):
    return WordVectors(list(words), np.eye(len(words), dtype=np.float32))


def test_resolve_exact_prefix_suffix_unknown():
    wv = vocab("학교", "학생", "선생님", "사과", "먹었다", "apple")
    assert wv.resolve("학교") == ("학교", "exact")
    assert wv.resolve("학교에서") == ("학교", "prefix")       # prefix 2 > suffix 0
    assert wv.resolve("학원") == ("학생", "prefix")           # the neighbour in sorted order
    # "학기" sorts between 학교 and 학생, both share 1 character: the earlier row wins
    assert vocab("학교", "학생").resolve("학기") == ("학교", "prefix")
    assert vocab("학생", "학교").resolve("학기") == ("학생", "prefix")
    assert wv.resolve("잡았다") == ("먹었다", "suffix")       # suffix 2 > prefix 0
    assert wv.resolve("banana") == (None, "unknown")
    assert wv.resolve("") == (None, "unknown")


def test_resolve_longer_wins_and_ties_go_to_prefix():
    wv = vocab("가나다", "라마다")
    assert wv.resolve("가나라마다") == ("라마다", "suffix")   # suffix 3 vs prefix 2
    assert wv.resolve("가나마다") == ("가나다", "prefix")     # 2 vs 2: the prefix wins
    assert wv.resolve("가나라다") == ("가나다", "prefix")     # prefix 2 vs suffix 1
    wv = vocab("가나", "다라")
    assert wv.resolve("가나다라") == ("가나", "prefix")       # 2 vs 2: the prefix wins


def test_resolve_min_match():
    wv = WordVectors(["학교", "먹었다"], np.eye(2, dtype=np.float32), min_match=2)
    assert wv.resolve("학원") == (None, "unknown")
    assert wv.resolve("학교들") == ("학교", "prefix")
    assert wv.resolve("학원", min_match=1) == ("학교", "prefix")
    with pytest.raises(ValueError, match="min_match >= 1"):
        WordVectors(["a"], np.ones((1, 1)), min_match=0)


def test_resolve_binary_search_matches_brute_force():
    rng = np.random.default_rng(1)
    alphabet = list("가나다라마")
    words = sorted({"".join(rng.choice(alphabet, rng.integers(1, 6))) for _ in range(300)})
    wv = WordVectors(words, np.zeros((len(words), 1), np.float32))

    def lcp(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    for _ in range(200):
        query = "".join(rng.choice(alphabet, rng.integers(1, 8)))
        matched, how = wv.resolve(query)
        best_prefix = max(lcp(w, query) for w in words)
        best_suffix = max(lcp(w[::-1], query[::-1]) for w in words)
        if query in wv.index:
            assert how == "exact"
        elif best_prefix >= best_suffix:
            assert how == "prefix" and lcp(matched, query) == best_prefix
        else:
            assert how == "suffix" and lcp(matched[::-1], query[::-1]) == best_suffix


def test_oov_report():
    wv = vocab("학교", "먹었다")
    report = wv.oov_report(["학교", "학교", "학교에", "잡았다", "xyz"])
    assert report.token_counts == {"exact": 2, "prefix": 1, "suffix": 1, "unknown": 1}
    assert report.type_counts == {"exact": 1, "prefix": 1, "suffix": 1, "unknown": 1}
    assert report.shares["exact"] == pytest.approx(0.4)
    assert sum(report.shares.values()) == pytest.approx(1.0)
    assert report.unknown_examples == ["xyz"]
    assert "40.00% of tokens" in str(report)


def test_centered_and_most_similar():
    vectors = np.array([[1, 1, 0], [1, 0.9, 0.1], [1, 0, 1], [1, -1, 0]], np.float32)
    wv = WordVectors(["a", "b", "c", "d"], vectors)
    assert wv.most_similar("a", 1)[0][0] == "b"
    centered = wv.centered()
    np.testing.assert_allclose(centered.vectors.mean(axis=0)[0], 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(centered.vectors, axis=1), 1, rtol=1e-5)


def test_word_vectors_validates():
    with pytest.raises(ValueError, match=r"expected vectors of shape \(2, dim\)"):
        WordVectors(["a", "b"], np.ones((3, 2)))
    with pytest.raises(ValueError, match="duplicate word 'a'"):
        WordVectors(["a", "a"], np.ones((2, 2)))
