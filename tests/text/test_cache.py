import json
import os

from dlpy.text import AnalysisCache, default_cache_dir, sha256_file

SHA = "ab" * 32


def test_round_trip_and_key(tmp_path):
    cache = AnalysisCache("kiwi", "kiwipiepy-0.24.1-cong", tmp_path)
    assert cache.get(SHA) is None and SHA not in cache
    fields = {"essay": [[("나", "NP"), ("는", "JX")]], "prompt": [[("글", "NNG")]]}
    path = cache.put(SHA, fields)
    assert path == tmp_path / "analysis" / "kiwi-kiwipiepy-0.24.1-cong" / "ab" / f"{SHA}.json"
    assert cache.get(SHA) == fields and SHA in cache
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    # another analyser version is another key
    assert AnalysisCache("kiwi", "kiwipiepy-0.25.0-cong", tmp_path).get(SHA) is None
    assert AnalysisCache("kkma", "kiwipiepy-0.24.1-cong", tmp_path).get(SHA) is None


def test_corrupt_entry_is_a_miss(tmp_path):
    cache = AnalysisCache("kiwi", "v1", tmp_path)
    path = cache.put(SHA, {"essay": []})
    path.write_text("{not json", encoding="utf-8")
    assert cache.get(SHA) is None
    path.write_text(json.dumps({"analyzer": "kiwi", "version": "v1", "source_sha256": "0" * 64,
                                "fields": {}}), encoding="utf-8")
    assert cache.get(SHA) is None  # an entry for another file


def test_sha256_file_and_default_dir(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_bytes(b"abc")
    assert sha256_file(tmp_path / "a.txt") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DLPY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "dlpy"
    assert os.path.isabs(default_cache_dir())
