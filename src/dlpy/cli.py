"""The `dlpy` command. Thin: each command family registers its sub-commands from its own module
(imported lazily so `dlpy --help` stays fast) and calls library functions.

Conventions for every command: `--help` shows each option's default; `--json` prints pure JSON
on standard output (people's text goes to standard error); `--no-progress` turns progress bars
off; a usage error exits 2 (argparse's, or a UsageError a command raises), an error at run time
1 with one line that says what went wrong (`dlpy --debug ...` adds the traceback), and an
unexpected exception always shows its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import traceback

from dlpy import __version__

# (command name, module with `register(subparsers)`), one per family
COMMAND_MODULES = [
    ("mnist", "dlpy.data.commands"),
    ("text", "dlpy.text.commands"),
    ("essay", "dlpy.essay.commands"),
    ("lm", "dlpy.lm.commands"),
    ("run-torch", "dlpy.compat"),
]


class UsageError(ValueError):
    """A command's arguments are wrong in a way argparse cannot see (a TEXT without its one
    [MASK], --top-k 0): one line, exit 2 like argparse's own usage errors."""


# errors that mean bad input or a missing resource, not a bug: one line, exit 1
EXPECTED_ERRORS = (ValueError, TypeError, FileNotFoundError, RuntimeError, OSError)
_json_stream = None  # standard output while a --json command runs with print() sent to stderr


def print_json(value) -> None:
    """One JSON value as a line on standard output: under --json the only thing there."""
    stream = _json_stream if _json_stream is not None else sys.stdout
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")
    stream.flush()


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default (flags and options without one excepted)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "%(default)" in text or "default" in text.lower()
                or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows the defaults; sub-command parsers are Parsers too
    (argparse makes them with the class of their parent)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        default = kwargs.get("default")
        if kwargs.get("help") is None and args and args[0].startswith("-") and \
                default is not None and not isinstance(default, bool):
            kwargs["help"] = "(default: %(default)s)"  # argparse shows no line without help
        return super().add_argument(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dlpy", description="dlpy: deep learning from scratch")
    parser.add_argument("--version", action="version", version=f"dlpy {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of every error, not only unexpected ones")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _name, module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 2 here
    global _json_stream
    # --json (or --json -): pure JSON on stdout; whatever else a command prints goes to stderr
    json_mode = getattr(args, "json", None) in (True, "-")
    _json_stream = sys.stdout if json_mode else None
    try:
        with contextlib.redirect_stdout(sys.stderr) if json_mode else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UsageError as err:
        if args.debug:
            traceback.print_exc()
        print(f"dlpy {args.command}: error: {err} (see --help)", file=sys.stderr)
        return 2
    except EXPECTED_ERRORS as err:
        if args.debug:
            traceback.print_exc()
        print(f"dlpy {args.command}: error: {err}", file=sys.stderr)
        return 1
    except Exception:  # a bug: say where
        traceback.print_exc()
        print(f"dlpy {args.command}: unexpected error (a bug in dlpy; the traceback above "
              "shows where)", file=sys.stderr)
        return 1
    finally:
        _json_stream = None


if __name__ == "__main__":
    sys.exit(main())
