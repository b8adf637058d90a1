"""Analysing many texts: worker processes, the on-disk cache and its lock.

    jobs = [Job(key=sha256_of_file, fields={"essay": text, "prompt": prompt}, spacing_text=text)]
    results, report = analyze_many(jobs, "kiwi", workers=2)
    results[0].fields["essay"]      # [[(form, tag), ...], ...]
    results[0].missing_spaces       # Kiwi only; None otherwise

What the cache holds is read first (no lock: entries appear whole or not at all). The rest is
analysed shard by shard (the cache's sha[:2] folders) under each shard's lock, after looking
again, by `workers` processes that each load their own analyser and write the entries
themselves. A shard another run holds is done last, once that run lets go of it (by then it is
usually filled): two runs share the work and never analyse the same text twice, and a run that
needs a few entries waits for one shard, not for another run's whole corpus. A text the
analyser rejects becomes `Result.error`; the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dlpy.io import no_gc
from dlpy.progress import progress

from .analysis import ANALYZERS, Analyzer, Sentence, get_analyzer
from .cache import AnalysisCache, Fields, intern_tokens

_MEMO_SIZE = 512  # analyses of repeated texts (the prompts) kept per worker


@dataclass
class Job:
    """One input: its cache key (the SHA-256 of the file it came from), the texts to analyse by
    field name, and the text whose spacing errors to count (Kiwi only)."""

    key: str
    fields: dict[str, str]
    spacing_text: str | None = None


@dataclass
class Result:
    fields: Fields | None
    missing_spaces: int | None = None
    error: str | None = None           # "ErrorType: message" when the analyser failed


@dataclass
class BatchReport:
    jobs: int
    cached: int                        # found in the cache
    analysed: int                      # analysed by this run
    failed: int
    workers: int
    seconds: float                     # all of it
    analysis_seconds: float            # the analysing part alone
    waited_seconds: float = 0.0        # for another run's lock
    cache_directory: str | None = None

    @property
    def per_second(self) -> float:
        return self.analysed / self.analysis_seconds if self.analysis_seconds > 0 else 0.0

    def __str__(self) -> str:
        text = f"{self.jobs} texts in {self.seconds:.1f} s: {self.cached} from the cache"
        if self.analysed or self.failed:
            text += (f", {self.analysed} analysed in {self.analysis_seconds:.1f} s "
                     f"({self.per_second:.1f}/s, {self.workers} worker(s))")
        if self.failed:
            text += f", {self.failed} failed"
        if self.waited_seconds >= 1:
            text += f"; waited {self.waited_seconds:.0f} s for another run's cache lock"
        return text


class _Worker:
    """Analyses jobs and stores them; one per process (or one in-process)."""

    def __init__(self, analyzer: str | Analyzer, cache_dir, use_cache: bool,
                 count_spaces: bool) -> None:
        # a fresh analyser per process: a forked Kiwi's thread pool would not survive
        self.analyzer = ANALYZERS[analyzer]() if isinstance(analyzer, str) else analyzer
        self.cache = AnalysisCache.for_analyzer(self.analyzer, cache_dir) if use_cache else None
        self.spacing = None
        if count_spaces:
            from .spacing import SpacingCounter

            kiwi = getattr(self.analyzer, "kiwi", None) or ANALYZERS["kiwi"]().kiwi
            self.spacing = SpacingCounter(kiwi, use_cache=use_cache, root=cache_dir)
        self.memo: dict[str, list[Sentence]] = {}

    def _analyze(self, text: str, memo: bool) -> list[Sentence]:
        if not memo:
            return self.analyzer.analyze(text)
        if text not in self.memo:
            if len(self.memo) >= _MEMO_SIZE:
                self.memo.clear()
            self.memo[text] = self.analyzer.analyze(text)
        return self.memo[text]

    def __call__(self, item: tuple[int, Job]) -> tuple[int, Result]:
        index, job = item
        stored = self.cache.get(job.key) if self.cache is not None else None
        try:
            if stored is not None and set(stored) == set(job.fields):
                fields = stored  # only the spacing count was missing
            else:
                # the first field is the file's own text; the others (prompts) repeat
                fields = {name: self._analyze(text, memo=k > 0)
                          for k, (name, text) in enumerate(job.fields.items())}
            spaces = None
            if self.spacing is not None and job.spacing_text is not None:
                spaces = self.spacing(job.spacing_text)
        except Exception as err:  # the analyser's own error types (Kiwi raises several)
            return index, Result(None, None, f"{type(err).__name__}: {err}")
        if self.cache is not None and fields is not stored:
            self.cache.put(job.key, fields)
        return index, Result(fields, spaces)


_worker: _Worker | None = None


def _init_worker(*args) -> None:
    global _worker
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker = _Worker(*args)


def _run(item: tuple[int, Job]) -> tuple[int, Result]:
    return _worker(item)


def _context():
    """spawn: each worker is a fresh process that loads its own analyser. fork would be quicker
    but is not safe here: a process with threads (Kiwi's pool, a progress bar) forked a worker
    that hung for good on a lock one of those threads held (seen in the test suite). A script
    that starts workers needs the usual `if __name__ == "__main__":` guard (`dlpy` has it)."""
    return multiprocessing.get_context("spawn")


def _from_cache(jobs: Sequence[Job], indices, cache: AnalysisCache | None, spacing,
                results: list, tokens: dict) -> list[int]:
    """Fill results[i] from the cache; the indices not found there."""
    if cache is None:
        return list(indices)
    missing = []
    shared: dict[tuple[str, str], list[Sentence]] = {}  # the prompts: loaded once, then reused
    with no_gc():
        for i in indices:
            job = jobs[i]
            spaces = None
            if spacing is not None and job.spacing_text is not None:
                spaces = spacing.cached(job.spacing_text)  # the small file first
                if spaces is None:
                    missing.append(i)
                    continue
            names = list(job.fields)
            known = {name: shared[name, job.fields[name]] for name in names[1:]
                     if (name, job.fields[name]) in shared}
            fields = cache.get(job.key, tokens, known)
            if fields is None or set(fields) != set(job.fields):
                missing.append(i)
                continue
            for name in names[1:]:
                shared.setdefault((name, job.fields[name]), fields[name])
            results[i] = Result(fields, spaces)
    return missing


def analyze_many(jobs: Sequence[Job], analyzer: str | Analyzer = "kiwi", *,
                 workers: int = 1, cache_dir=None, use_cache: bool = True,
                 count_spaces: bool | None = None, show_progress: bool = True,
                 desc: str = "analysing", min_per_worker: int = 64
                 ) -> tuple[list[Result], BatchReport]:
    """Analyse `jobs` through the cache with up to `workers` processes (1: in this process;
    each worker gets at least `min_per_worker` texts, since starting one costs a model load). An
    analyser given by name is created in each worker; an Analyzer object must pickle to go to
    workers. `count_spaces` (default: when the analyser is Kiwi) also counts spacing errors."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"analyze_many: expected workers >= 1, got {workers!r}")
    start = time.perf_counter()
    analyzer_obj = get_analyzer(analyzer) if isinstance(analyzer, str) else analyzer
    if count_spaces is None:
        count_spaces = getattr(analyzer_obj, "name", "") == "kiwi"
    cache = AnalysisCache.for_analyzer(analyzer_obj, cache_dir) if use_cache else None
    spacing = None
    if count_spaces and use_cache:
        from .spacing import SpacingCounter

        spacing = SpacingCounter(None, root=cache_dir)  # reads only; workers count
    results: list[Result | None] = [None] * len(jobs)
    tokens: dict = {}
    missing = _from_cache(jobs, range(len(jobs)), cache, spacing, results, tokens)
    waited = analysis_seconds = 0.0
    failed = analysed = n = 0
    if missing:
        analysis_start = time.perf_counter()
        n = max(1, min(workers, len(missing) // max(min_per_worker, 1)))
        bar = progress(total=len(missing), desc=f"{desc} ({n} worker{'s' * (n > 1)})",
                       enabled=show_progress, unit="text")
        pool = worker = None
        if n <= 1:
            worker = _Worker(analyzer_obj, cache_dir, use_cache, count_spaces)
        else:
            spec = analyzer if isinstance(analyzer, str) else analyzer_obj
            pool = _context().Pool(n, _init_worker, (spec, cache_dir, use_cache, count_spaces))

        def run(indices: list[int]) -> None:
            nonlocal failed, analysed
            items = [(i, jobs[i]) for i in indices]
            outputs = map(worker, items) if pool is None else \
                pool.imap_unordered(_run, items, chunksize=4)
            for index, result in outputs:
                if result.fields is not None:
                    analysed += 1
                    with no_gc():
                        result.fields = {name: intern_tokens(s, tokens)
                                         for name, s in result.fields.items()}
                else:
                    failed += 1
                results[index] = result
                bar.update(1)

        try:
            if cache is None:
                run(missing)
            else:
                # one lock per cache shard (the sha[:2] folder), held while this run fills it:
                # a shard another run holds is left for later, so two runs share the work,
                # and a run that needs a few entries never waits for a whole corpus
                shards: dict[str, list[int]] = {}
                for i in missing:
                    shards.setdefault(cache.path_for(jobs[i].key).parent.name, []).append(i)
                deferred = []
                for shard, indices in shards.items():
                    with cache.lock(shard, blocking=False) as held:
                        if not held:
                            deferred.append((shard, indices))
                            continue
                        todo = _from_cache(jobs, indices, cache, spacing, results, tokens)
                        bar.update(len(indices) - len(todo))
                        run(todo)
                message = f"{desc}: waiting for another run that is filling {cache.directory}"
                for shard, indices in deferred:
                    lock_start = time.perf_counter()
                    with cache.lock(shard, wait_message=message):
                        waited += time.perf_counter() - lock_start
                        message = None  # said once
                        # look again: the run that held the shard has done this run's work
                        todo = _from_cache(jobs, indices, cache, spacing, results, tokens)
                        bar.update(len(indices) - len(todo))
                        run(todo)
        finally:
            bar.close()
            if pool is not None:
                pool.terminate()
                pool.join()
        analysis_seconds = time.perf_counter() - analysis_start
    report = BatchReport(jobs=len(jobs), cached=len(jobs) - analysed - failed,
                         analysed=analysed,
                         failed=failed, workers=n if missing else 0,
                         seconds=time.perf_counter() - start, analysis_seconds=analysis_seconds,
                         waited_seconds=waited,
                         cache_directory=str(cache.directory) if cache is not None else None)
    return results, report

