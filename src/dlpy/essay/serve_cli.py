"""`dlpy essay serve` and `dlpy essay explain`: thin, over dlpy.essay.service and .serve."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlpy.cli import print_json


def register(sub) -> None:
    """Add `serve` and `explain` to the `dlpy essay` sub-commands."""
    p = sub.add_parser("serve", help="the scorer as a web page and an HTTP API (needs the "
                       "[serve] extra)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback: only "
                   "this machine can connect)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--model", help="a model folder or .npz (default: the bundled model)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("explain", help="score one essay and show what raised and lowered the "
                       "score")
    p.add_argument("file", metavar="FILE", help="the essay: a text file, one paragraph a line "
                   "(UTF-8, UTF-16 with a BOM or CP949), or - for stdin")
    p.add_argument("--model", help="a model folder or .npz (default: the bundled model)")
    p.add_argument("--prompt", help="the prompt's title, as `dlpy essay prompts` lists it")
    p.add_argument("--top", type=int, default=8, help="words and features to show each way")
    p.add_argument("--json", action="store_true", help="the whole result as one JSON object")
    p.set_defaults(func=cmd_explain)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from dlpy.essay.serve import serve
    except ImportError as err:
        raise RuntimeError(f"`dlpy essay serve` needs {err.name}: pip install 'dlpy[serve]'"
                           ) from None
    print(f"loading the model and Kiwi; then open http://{args.host}:{args.port}/",
          file=sys.stderr)
    serve(args.host, args.port, args.model)
    return 0


def read_essay_file(name: str) -> str:
    """The text of an essay file (or stdin for -), in any encoding service.decode_text reads."""
    from dlpy.essay.service import decode_text

    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    return decode_text(data, "stdin" if name == "-" else name)


def cmd_explain(args: argparse.Namespace) -> int:
    from dlpy.essay.service import ScoringService

    text = read_essay_file(args.file)
    service = ScoringService(args.model)
    try:
        result = service.score(text, args.prompt)
    except ValueError as err:
        raise ValueError(f"{args.file}: {err}") from None
    if args.json:
        print_json(result)
        return 0
    print(format_explanation(args.file, result, args.top))
    return 0


def format_explanation(name: str, result: dict, top: int = 8) -> str:
    lines = [f"{name}: {result['score']:.1f} / 30 (calibrated integer {result['integer']})"]
    for criterion, value in (result.get("criteria") or {}).items():
        lines.append(f"  {criterion:<13s}{value:.2f} / 3")
    for w in result["warnings"]:
        lines.append(f"warning: {w['en']}")
    e = result.get("explanation")
    if e is None:
        lines.append("(this model's family has no explanation)")
        return "\n".join(lines)
    parts = e["parts"]
    lines.append(f"why: base {parts['base']:.2f} + n-grams {parts['ngrams']:+.2f} + text "
                 f"features {parts['statistics']:+.2f} + deep {parts['deep']:+.2f} = "
                 f"{e['total']:.2f} (the model: {e['model_output']:.2f}; the score is clipped "
                 "to 0-30)")
    seen: set[str] = set()  # a word once, at its strongest occurrence
    words = [w for w in e["words"] if not (w["text"] in seen or seen.add(w["text"]))]
    raised = [w for w in words if w["contribution"] > 0][:top]
    lowered = [w for w in words if w["contribution"] < 0][:top]
    if raised:
        lines.append("raised:  " + ", ".join(f"{w['text']} {w['contribution']:+.3f}"
                                             for w in raised))
    if lowered:
        lines.append("lowered: " + ", ".join(f"{w['text']} {w['contribution']:+.3f}"
                                             for w in lowered))
    sentences = sorted(e["sentences"], key=lambda s: -abs(s["contribution"]))[:3]
    for s in sentences:
        lines.append(f"  sentence {s['contribution']:+.3f}: {s['text'][:60]}")
    lines.append("text features: " + ", ".join(f"{s['name']} {s['contribution']:+.3f}"
                                               for s in e["statistics"][:top]))
    for fix in result.get("spacing", [])[:top]:
        lines.append(f"  spacing: {fix['text']} -> {fix['suggestion']}")
    return "\n".join(lines)


def score_files(args: argparse.Namespace, prompt_of, format_result) -> int:
    """`dlpy essay score FILE...`: each file read as UTF-8, UTF-16 with a BOM or CP949/EUC-KR;
    a file that cannot be read or scored is reported on stderr and the others go on; exit 1
    at the end if any failed. prompt_of(scorer, args) -> the prompt; format_result(name,
    result) -> the human text (commands.py's)."""
    from dlpy.essay.service import ScoringService

    service = ScoringService(args.model)
    prompt = prompt_of(service.model.scorer, args)
    failed = 0
    for name in args.files:
        label = "stdin" if name == "-" else name
        try:
            text = read_essay_file(name)
            result = service.score(text, prompt, explain=False)
        except (OSError, ValueError) as err:
            message = str(err) if str(err).startswith(label) else f"{label}: {err}"
            print(f"dlpy essay score: error: {message}", file=sys.stderr)
            failed += 1
            continue
        kept = {k: result.get(k) for k in ("score", "integer", "criteria", "prompt",
                                           "characters", "warnings", "milliseconds")}
        if args.json:
            print_json({"file": name, **kept})
        else:
            print(format_result(name, {**kept, "warnings": [w["en"] for w in kept["warnings"]]}),
                  flush=True)
    if failed:
        print(f"dlpy essay score: {failed} of {len(args.files)} file(s) could not be scored",
              file=sys.stderr)
        return 1
    return 0
