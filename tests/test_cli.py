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
    missing, families = [], set()
    for path, parser in _subparsers(build_parser()):
        families.add(path[:1])
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default in (None, argparse.SUPPRESS) or \
                    isinstance(default, bool) or action.help == argparse.SUPPRESS:
                continue
            helped = parser._get_formatter()._expand_help(action) if action.help else ""
            # the value itself, or a default its author put in words ("default: one per core")
            if "default" not in helped.lower() or (str(default) not in helped and
                                                   "default" not in (action.help or "")):
                missing.append(f"dlpy {' '.join(path)} {action.option_strings[0]}")
    assert not missing, missing
    assert families >= {("mnist",), ("text",), ("essay",), ("lm",)}, families


def test_no_progress_is_the_one_spelling_and_no_quiet_is_shown():
    offenders = []
    for path, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue  # an old spelling kept working, not offered
            for option in action.option_strings:
                if option == "--quiet" or (("progress" in option or "quiet" in option)
                                           and option != "--no-progress"):
                    offenders.append(f"dlpy {' '.join(path)} {option}")
    assert not offenders, offenders
    for argv in (["essay", "cv"], ["text", "oov"], ["lm", "train"], ["mnist", "train"]):
        text = _help([*argv, "--help"])
        assert "--no-progress" in text and "--quiet" not in text, argv


def _help(argv) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(argv)
    return out.getvalue()


def test_a_usage_error_a_command_finds_exits_2(capsys):
    assert main(["lm", "fill-mask", "--top-k", "0", "나는 [MASK] 먹었다."]) == 2
    err = capsys.readouterr().err
    assert "--top-k must be >= 1, got 0" in err and "Traceback" not in err


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
