"""The conventions every `dlpy` command keeps (dlpy.cli): --version, defaults in --help, exit
codes (usage 2, run time 1), tracebacks for the unexpected, pure JSON for --json."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import dlpy
from dlpy.cli import build_parser, main

SRC = Path(__file__).parents[1] / "src"


def _subparsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _subparsers(child, path + (name,))


def test_python_m_dlpy_and_version():
    done = subprocess.run([sys.executable, "-m", "dlpy", "--version"], capture_output=True,
                          text=True, env={"PYTHONPATH": str(SRC), "PATH": ""}, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"dlpy {dlpy.__version__}"


def test_every_option_shows_its_default():
    missing = []
    for path, parser in _subparsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default in (None, argparse.SUPPRESS) or \
                    isinstance(default, bool) or action.help == argparse.SUPPRESS:
                continue
            helped = parser._get_formatter()._expand_help(action) if action.help else ""
            if "default" not in helped.lower() or (str(default) not in text and
                                                   "default" not in (action.help or "")):
                missing.append(f"dlpy {' '.join(path)} {action.option_strings[0]}")
    assert not missing, missing


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["essay", "score"])  # FILE missing
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_runtime_error_exits_1_in_one_line(tmp_path, capsys):
    assert main(["essay", "prompts", "--model", str(tmp_path / "none.npz")]) == 1
    err = capsys.readouterr().err
    assert "no such model file" in err and "Traceback" not in err
    assert main(["--debug", "essay", "prompts", "--model", str(tmp_path / "none.npz")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_unexpected_exception_shows_its_traceback(monkeypatch, capsys):
    import dlpy.essay.serve_cli as serve_cli

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(serve_cli, "cmd_explain", broken)
    assert main(["essay", "explain", "x.txt"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "unexpected error" in err
