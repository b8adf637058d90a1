"""The `dlpy` command. Thin: each command family registers its sub-commands from its own module
(imported lazily so `dlpy --help` stays fast) and calls library functions."""

from __future__ import annotations

import argparse
import importlib
import sys

# (command name, module with `register(subparsers)`), one per family
COMMAND_MODULES = [
    ("mnist", "dlpy.data.commands"),
    ("text", "dlpy.text.commands"),
    ("essay", "dlpy.essay.commands"),
    ("lm", "dlpy.lm.commands"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlpy", description="dlpy: deep learning from scratch")
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
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, TypeError, OSError) as err:
        print(f"dlpy {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
