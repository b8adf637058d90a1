"""`dlpy text ...`: export Kiwi vectors, inspect a vector file, OOV report of a corpus."""

from __future__ import annotations

import argparse
import os
import time


def register(subparsers) -> None:
    parser = subparsers.add_parser("text", help="Korean text: word vectors, OOV reports")
    sub = parser.add_subparsers(dest="text_command", metavar="COMMAND")
    sub.required = True

    export = sub.add_parser("export-kiwi-vectors",
                            help="rebuild kiwipiepy's morpheme vectors as a .vec file")
    export.add_argument("out", help="output .vec path (keys form/TAG, unit-length vectors)")
    export.add_argument("--anchors", type=int, default=384, help="anchor morphemes (>= dim)")
    export.add_argument("--dim", type=int, default=256, help="embedding dimension")
    export.add_argument("--check-pairs", type=int, default=10_000,
                        help="random pairs on which to check the cosines")
    export.add_argument("--limit", type=int, default=None, help="export the first N ids only")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--no-progress", action="store_true", help="no progress bars")
    export.set_defaults(func=export_command)

    inspect = sub.add_parser("inspect-vectors", help="size, skipped rows, nearest neighbours")
    inspect.add_argument("file", help=".vec (text) or .bin (word2vec binary)")
    inspect.add_argument("--limit", type=int, default=None, help="load the first N rows only")
    inspect.add_argument("--words", nargs="*", default=None, help="words to show neighbours of")
    inspect.add_argument("-k", type=int, default=5, help="neighbours per word")
    inspect.add_argument("--center", action="store_true",
                         help="centre the vectors first (recommended for the Kiwi vectors)")
    inspect.set_defaults(func=inspect_command)

    oov = sub.add_parser("oov", help="how a corpus's tokens resolve in a vector file (for "
                         "essays: `dlpy essay oov`)")
    oov.add_argument("file", help=".vec or .bin")
    oov.add_argument("--data", required=True, nargs="+",
                     help="UTF-8 text: .txt or .txt.gz files (documents separated by an empty "
                     "line) or folders of them")
    add_oov_arguments(oov)
    oov.set_defaults(func=oov_command)


def add_oov_arguments(oov: argparse.ArgumentParser) -> None:
    """The options `dlpy text oov` and `dlpy essay oov` share."""
    oov.add_argument("--analyzer", choices=["kiwi", "kkma"], default="kiwi")
    oov.add_argument("--limit", type=int, default=None, help="load the first N vectors only")
    oov.add_argument("--min-match", type=int, default=1,
                     help="shortest prefix/suffix match that counts (characters)")
    oov.add_argument("--tokens", choices=["auto", "form/tag", "form"], default="auto",
                     help="token keys; auto: form/TAG when the vocabulary looks like that")
    oov.add_argument("--cache-dir", default=None, help="analysis cache (default ~/.cache/dlpy)")


def export_command(args: argparse.Namespace) -> int:
    from .kiwi_vectors import export_kiwi_vectors

    _, report = export_kiwi_vectors(args.out, num_anchors=args.anchors, dim=args.dim,
                                    limit=args.limit, check_pairs=args.check_pairs,
                                    seed=args.seed, show_progress=not args.no_progress)
    print(report)
    print(f"wrote {args.out}: unit-length vectors sharing a common direction; "
          "centre them before use (WordVectors.centered())")
    return 0


def _sample_words(words: list[str], n: int = 5) -> list[str]:
    head = words[:2000]
    step = max(len(head) // n, 1)
    return head[step // 2::step][:n]


def inspect_command(args: argparse.Namespace) -> int:
    from .vectors import load_vectors

    start = time.perf_counter()
    wv = load_vectors(args.file, limit=args.limit)
    seconds = time.perf_counter() - start
    print(f"{args.file}: {len(wv)} words, dim {wv.dim}, loaded in {seconds:.2f} s")
    if wv.header_count is not None:
        print(f"header: {wv.header_count} rows")
    print(f"skipped: {wv.skipped}" + (f" {wv.skip_reasons}" if wv.skipped else ""))
    for problem in wv.problems[:10]:
        print(f"  {problem}")
    if len(wv) < 2:
        return 0
    if args.center:
        wv = wv.centered()
    for word in args.words or _sample_words(wv.words):
        matched, how = wv.resolve(word)
        if matched is None:
            print(f"{word}: not found")
            continue
        label = word if how == "exact" else f"{word} -> {matched} ({how})"
        neighbours = ", ".join(f"{w} {c:.2f}" for w, c in wv.most_similar(matched, args.k))
        print(f"{label}: {neighbours}")
    return 0


def read_documents(paths) -> list[str]:
    """The documents of UTF-8 text files (.txt, .txt.gz; one per block of lines, blocks
    separated by an empty line), in folders too; a file that is not UTF-8 is an error naming
    it."""
    import gzip
    from pathlib import Path

    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file()
                            and (p.name.endswith(".txt") or p.name.endswith(".txt.gz")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    documents = []
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") \
            else path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from None
        blocks = text.replace("\r\n", "\n").split("\n\n")
        documents += [b.strip() for b in blocks if b.strip()]
    return documents


def oov_command(args: argparse.Namespace) -> int:
    from .batch import Job, analyze_many
    from .cache import sha256_bytes

    documents = read_documents(args.data)
    jobs = [Job(sha256_bytes(d.encode("utf-8", "surrogatepass")), {"text": d})
            for d in documents]
    results, _ = analyze_many(jobs, args.analyzer, cache_dir=args.cache_dir,
                              count_spaces=False, workers=os.cpu_count() or 1)
    bad = [(d, r.error) for d, r in zip(documents, results) if r.error is not None]
    if bad:
        raise ValueError(f"the analyser rejected {len(bad)} document(s); the first, "
                         f"{bad[0][0][:40]!r}: {bad[0][1]}")
    return print_oov(args, [r.fields["text"] for r in results], f"{len(documents)} documents")


def print_oov(args: argparse.Namespace, analyses, what: str) -> int:
    """Print how the tokens of `analyses` (sentences of (form, tag) per text) resolve in the
    vector file `args.file`."""
    from .vectors import load_vectors

    wv = load_vectors(args.file, limit=args.limit)
    with_tags = args.tokens == "form/tag"
    if args.tokens == "auto":
        head = wv.words[:1000]
        with_tags = sum("/" in w for w in head) > len(head) // 2
    tokens = [f"{f}/{t}" if with_tags and t else f
              for sentences in analyses for s in sentences for f, t in s]
    report = wv.oov_report(tokens, min_match=args.min_match)
    print(f"{args.file} ({len(wv)} words) on {what}, "
          f"tokens as {'form/TAG' if with_tags else 'forms'}:")
    print(report)
    return 0
