"""The whole-corpus side of dlpy.essay.data: categories from folders, rubric weights and items,
duplicates, hostile files, parallel analysis under the cache lock. Fixture corpora are written
by tests/essay/corpus.py (never the real data)."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from corpus import write_aihub_corpus, write_hostile

from dlpy.essay.data import (
    CATEGORIES,
    ITEMS,
    EssayDataError,
    analyze_essays,
    deduplicate,
    duplicate_groups,
    read_essays,
)
from dlpy.text import AnalysisCache, split_marked
from dlpy.text.batch import Job, analyze_many

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def aihub(tmp_path_factory):
    return write_aihub_corpus(tmp_path_factory.mktemp("aihub"))


def test_all_categories_from_their_folders(aihub):
    essays = read_essays(aihub.folder)
    assert len(essays) == aihub.total and essays.counts() == {c: aihub.counts[c]
                                                              for c in CATEGORIES}
    assert all(e.source.split("::")[1].startswith(f"{e.category}/") for e in essays)
    (odd,) = [e for e in essays if e.id in aihub.rubric_disagrees]
    assert odd.category == "글짓기" and odd.rubric_type == "설명글"  # the folder wins
    assert {e.title for e in essays if e.category == "글짓기"} == set(aihub.prompts["글짓기"])
    chosen = read_essays(aihub.folder, categories=["주장", "설명글"])
    assert chosen.counts() == {"설명글": aihub.counts["설명글"], "주장": aihub.counts["주장"]}


def test_rubric_weights_items_and_totals(aihub):
    for essay in read_essays(aihub.folder):
        assert list(essay.items) == list(ITEMS) and len(ITEMS) == 11
        assert all(0 <= v <= 3 for v in essay.items.values())
        assert set(essay.criterion_weights) == {"organisation", "content", "expression"}
        assert sum(essay.criterion_weights.values()) == 10
        # the criteria and their weights rebuild the raters' mean total
        total = 3 * sum(essay.criterion_weights[c] * v for c, v in essay.criteria.items())
        assert total == pytest.approx(essay.score, abs=1e-4)
        assert essay.score == pytest.approx(np.mean(essay.rater_scores), abs=1e-4)
    alternative = read_essays(aihub.folder, categories=["대안제시"])[0]
    assert alternative.item_weights["con_prompt"] == 0 and alternative.item_weights[
        "org_essay"] == 6


def test_duplicates_grouped_and_counted_once(aihub):
    essays = read_essays(aihub.folder)
    assert essays.duplicates == len(aihub.duplicates) == len(CATEGORIES)
    by_id = {e.id: e for e in essays}
    groups = duplicate_groups(essays)
    index = {e.id: i for i, e in enumerate(essays)}
    for original, copy in aihub.duplicates:
        assert by_id[original].duplicate_group == by_id[copy].duplicate_group
        assert groups[index[original]] == groups[index[copy]]
        assert by_id[original].score != by_id[copy].score  # scored again, differently
    assert len(set(groups.tolist())) == len(essays) - essays.duplicates
    once = deduplicate(essays)
    assert len(once) == len(essays) - essays.duplicates and once.duplicates == 0
    merged = {e.id: e for e in once}
    for original, copy in aihub.duplicates:
        assert copy not in merged and merged[original].copies == 2
        assert merged[original].score == pytest.approx(
            (by_id[original].score + by_id[copy].score) / 2)
        assert merged[original].items["exp_vocab"] == pytest.approx(
            (by_id[original].items["exp_vocab"] + by_id[copy].items["exp_vocab"]) / 2)
    assert "5 extra copies of 5 duplicated texts" in essays.summary()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return folder, write_hostile(folder)


def test_skip_bad_names_every_bad_file_and_keeps_the_good(hostile):
    folder, expected = hostile
    with pytest.warns(UserWarning, match=f"skipped {len(expected)} bad file"):
        essays = read_essays(folder, skip_bad=True)
    assert sorted(e.id for e in essays) == ["ESSAY_1", "ESSAY_11", "ESSAY_16"]
    assert len(essays.skipped) == len(expected)
    for name, message in expected.items():
        (reason,) = [r for r in essays.skipped if r.startswith(f"{folder / name}:")]
        assert re.search(message, reason), (name, reason)


@pytest.mark.parametrize("name", ["deep.json", "digits.json", "surrogate.json", "cp949.json",
                                  "contradicts.json", "nan_weight.json", "text_weight.json",
                                  "not_a.zip"])
def test_without_skip_bad_a_clear_error_naming_the_file(hostile, name):
    folder, expected = hostile
    with pytest.raises(EssayDataError, match=f"{name}: .*{expected[name]}"):
        read_essays(folder / name)


def test_zip_members_bad_crc_encrypted_and_oversized(hostile):
    folder, expected = hostile
    with pytest.raises(EssayDataError, match=r"mixed.zip::주장/bad_crc.json: .*Bad CRC-32"):
        read_essays(folder / "mixed.zip")
    with pytest.warns(UserWarning, match="skipped 4 bad file"):
        essays = read_essays(folder / "mixed.zip", skip_bad=True)
    assert [e.id for e in essays] == ["ESSAY_11", "ESSAY_16"]
    assert any("bomb.json: the zip member inflates to" in r for r in essays.skipped)
    # a member whose header understates its size is read only that far, then fails its CRC
    assert any("lying_size.json: unreadable zip member" in r for r in essays.skipped)
    # the cap is a parameter: a small one refuses every member, naming the first
    with pytest.raises(EssayDataError, match=r"mixed.zip::주장/bad_crc.json: the zip member "
                       r"inflates to [\d,]+ bytes, over the 100-byte cap"):
        read_essays(folder / "mixed.zip", max_bytes=100)


class ListAnalyzer:
    """Stands in for Kiwi: splits on spaces; raises on the word 'REJECT' as Kiwi does on text
    it cannot take."""

    name, version = "list", "1"

    def analyze(self, text):
        if "REJECT" in text:
            raise UnicodeDecodeError("utf-16-le", b"\x00", 0, 1, "unexpected end of data")
        return [[(w, "X") for w in s.split()] for s in split_marked(text) or [text]]


def test_analyser_rejection_is_skipped_and_named(aihub, tmp_path):
    essays = read_essays(aihub.folder, categories=["주장"])
    essays[1].marked_text = "REJECT#@문장구분#"
    with pytest.raises(EssayDataError, match=f"{essays[1].source}: the analyser rejected"):
        analyze_essays(essays, ListAnalyzer(), cache_dir=tmp_path, show_progress=False)
    with pytest.warns(UserWarning, match="skipped 1 essay"):
        analysed = analyze_essays(essays, ListAnalyzer(), cache_dir=tmp_path, skip_bad=True,
                                  show_progress=False)
    assert len(analysed) == len(essays) - 1 and "UnicodeDecodeError" in analysed.skipped[0]
    assert analysed.report.cached == len(essays) - 1  # the good ones were cached the first time


def test_worker_processes_give_what_one_process_gives(aihub, tmp_path):
    essays = read_essays(aihub.folder)
    jobs = [Job(e.source_sha256, {"essay": e.marked_text, "prompt": e.prompt}) for e in essays]
    alone, report = analyze_many(jobs, ListAnalyzer(), workers=1, cache_dir=tmp_path / "a",
                                 show_progress=False)
    assert report.analysed == len(jobs) and report.workers == 1
    pooled, report = analyze_many(jobs, ListAnalyzer(), workers=2, min_per_worker=1,
                                  cache_dir=tmp_path / "b", show_progress=False)
    assert report.workers == 2 and report.analysed == len(jobs) and report.failed == 0
    assert [r.fields for r in pooled] == [r.fields for r in alone]
    again, report = analyze_many(jobs, ListAnalyzer(), workers=2, cache_dir=tmp_path / "b",
                                 show_progress=False)
    assert report.cached == len(jobs) and report.analysed == 0
    assert [r.fields for r in again] == [r.fields for r in alone]
    with pytest.raises(ValueError, match="expected workers >= 1, got 0"):
        analyze_many(jobs, ListAnalyzer(), workers=0)


RACE = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {src!r})
    from dlpy.essay.data import analyze_essays, read_essays
    from dlpy.text import split_marked

    class Slow:
        name, version = "slow", "1"
        def analyze(self, text):
            with open({log!r}, "a", encoding="utf-8") as f:  # O_APPEND: whole lines
                f.write(text.replace("\\n", " ") + "\\n")
            time.sleep(0.02)
            return [[(w, "X") for w in s.split()] for s in split_marked(text) or [text]]

    while not os.path.exists({go!r}):  # start together
        time.sleep(0.005)
    essays = read_essays({data!r})
    analysed = analyze_essays(essays, Slow(), workers=1, cache_dir={cache!r},
                              show_progress=False)
    print(analysed.report.analysed, analysed.report.cached,
          sum(len(a.sentences) for a in analysed))
""")


def test_two_runs_at_once_analyse_each_essay_once(aihub, tmp_path):
    log, go, cache = tmp_path / "calls.log", tmp_path / "go", tmp_path / "cache"
    script = RACE.format(src=str(SRC), log=str(log), go=str(go), data=str(aihub.folder),
                         cache=str(cache))
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    essays = read_essays(aihub.folder)
    # the runs shared the work shard by shard: together they analysed each essay once, and
    # each took the other's part from the cache
    assert counts[0][0] + counts[1][0] == len(essays)
    assert all(a + c == len(essays) for a, c, _ in counts) and counts[0][2] == counts[1][2]
    calls = log.read_text(encoding="utf-8").splitlines()
    essay_calls = [c for c in calls if "#@문장구분#" in c]
    assert len(essay_calls) == len(essays)  # each essay analysed once, by one run
    store = AnalysisCache("slow", "1", cache)
    assert all(store.get(e.source_sha256) is not None for e in essays)  # entries intact
    assert not list(store.directory.rglob("*.tmp"))
    for path in store.directory.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_kiwi_rejects_a_lone_surrogate_and_skip_bad_names_the_essay(hostile, tmp_path):
    # read_essays refuses the file first (above); an essay built in code reaches Kiwi itself
    pytest.importorskip("kiwipiepy")
    folder, _ = hostile
    (good,) = read_essays(folder / "good.json")
    bad = read_essays(folder / "good.json")[0]
    bad.marked_text = bad.marked_text.replace("나는", "\ud800", 1)
    bad.source, bad.source_sha256 = "made-in-code.json", "0" * 64  # its own cache key
    with pytest.raises(EssayDataError, match="made-in-code.json: the analyser rejected the essay"):
        analyze_essays([good, bad], "kiwi", cache_dir=tmp_path, show_progress=False)
    with pytest.warns(UserWarning, match="skipped 1 essay"):
        analysed = analyze_essays([good, bad], "kiwi", cache_dir=tmp_path, skip_bad=True,
                                  show_progress=False)
    assert [a.record.id for a in analysed] == ["ESSAY_1"] and analysed[0].missing_spaces >= 0
    assert "UnicodeDecodeError" in analysed.skipped[0]  # what Kiwi raises on \ud800


def test_prompts_and_preprocess_commands(aihub, capsys):
    from dlpy.cli import main

    assert main(["essay", "prompts", "--data", str(aihub.folder)]) == 0
    out = capsys.readouterr().out
    assert f"글짓기: {aihub.counts['글짓기']} essays, 2 prompts" in out
    assert f"찬성반대: {aihub.counts['찬성반대']} essays, 1 prompts" in out
    assert f"6 prompts, {aihub.total} essays" in out
    assert main(["essay", "prompts", "--data", str(aihub.folder), "--category", "주장"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"주장: {aihub.counts['주장']} essays, 1 prompts"
    pytest.importorskip("kiwipiepy")
    args = ["essay", "preprocess", "--data", str(aihub.folder), "--category", "주장",
            "--workers", "2", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{aihub.counts['주장']} essays read in" in out and "(주장 7)" in out
    assert "duplicates: 1 extra copies of 1 texts" in out
    assert "(0 were already cached)" in out and "0 bad file(s) skipped" in out
    assert main(args) == 0
    assert f"({aihub.counts['주장']} were already cached)" in capsys.readouterr().out


def test_a_held_shard_delays_only_the_texts_in_it(tmp_path, capsys):
    import threading

    store = AnalysisCache("list", "1", tmp_path)
    free = Job("cd" + "0" * 62, {"text": "학교에 갔다"})
    held = Job("ab" + "0" * 62, {"text": "집에 왔다"})
    with store.lock("ab"):  # another run is filling shard ab: a text elsewhere goes ahead
        results, report = analyze_many([free], ListAnalyzer(), cache_dir=tmp_path,
                                       show_progress=False)
        assert report.analysed == 1 and report.waited_seconds == 0
    lock = store.lock("ab")  # now held for 0.5 s more: a text in it waits, then is analysed
    lock.__enter__()
    timer = threading.Timer(0.5, lambda: lock.__exit__(None, None, None))
    timer.start()
    results, report = analyze_many([free, held], ListAnalyzer(), cache_dir=tmp_path,
                                   show_progress=False)
    timer.join()
    assert report.cached == 1 and report.analysed == 1 and report.waited_seconds >= 0.4
    assert results[1].fields == {"text": [[("집에", "X"), ("왔다", "X")]]}
    assert "waiting for another run that is filling" in capsys.readouterr().err


def test_essays_to_score_need_only_their_text(tmp_path):
    from corpus import good_essay

    bare = good_essay("ESSAY_7")
    del bare["score"], bare["rubric"], bare["info"]
    broken = good_essay("ESSAY_8")
    broken["rubric"]["content_weight"]["con"] = "four"
    (tmp_path / "주장").mkdir()
    for name, doc in (("bare.json", bare), ("broken.json", broken)):
        (tmp_path / "주장" / name).write_text(json.dumps(doc, ensure_ascii=False),
                                             encoding="utf-8")
    with pytest.raises(EssayDataError, match="bare.json: missing field 'score.essay_scoreT'"):
        read_essays(tmp_path / "주장" / "bare.json")
    essays = read_essays(tmp_path, require_scores=False)
    first, second = essays
    assert first.id == "bare" and first.category == "주장" and first.title == ""
    assert np.isnan(first.score) and first.criteria is None and first.items is None
    assert first.sentences[0].startswith("나는 학교에서")
    # present but unsound: left out, never an error when scoring
    assert second.id == "ESSAY_8" and np.isnan(second.score)
    assert second.criterion_weights is None and second.title == "학교 휴대전화 사용"
