"""The `peprkit` command as a user meets it: version, plain help, defaults, list syntax, errors."""

from __future__ import annotations

import argparse
import importlib.metadata
import re

import pytest

from peprkit import __version__, cli
from peprkit._util import did_you_mean

#: Options that take a list of names or numbers, in any command.
LIST_OPTIONS = {"models", "datasets", "sizes", "seeds", "fractions", "platforms", "pythons"}


def _parsers(parser: argparse.ArgumentParser, path=("peprkit",)):
    """(command path, parser) for the top-level parser and every sub-command parser."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


ALL = list(_parsers(cli.build_parser()))


def test_version_is_the_release_definition(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"peprkit {__version__}"
    assert importlib.metadata.version("peprkit") == __version__, "reinstall: pip install -e ."


def test_top_level_help_is_plain_text(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert not re.search(r"``|:(class|func|data|mod):|\.\. ", text), text
    for command in ("info", "demo", "sweep", "grade", "bundle"):
        assert re.search(rf"^\s+{command}\s+\S", text, re.M), f"{command} has no summary"
    assert "--version" in text and "COMMAND --help" in text


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_option_has_help_and_shows_its_default(path, parser):
    assert parser.formatter_class is cli._Formatter, f"{' '.join(path)}: defaults not shown"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{' '.join(path)} {name}: no help text"
        shown = action.default not in (None, False, True, "", [], argparse.SUPPRESS)
        if action.option_strings and shown and not action.required:
            text = cli._Formatter("peprkit")._get_help_string(action)
            assert "default" in text.lower(), f"{' '.join(path)} {name}: default not shown"


def test_defaults_are_shown_once_and_readably(capsys):
    assert cli.main(["sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "learning rate (default: the recipe's, see peprkit.train.RECIPES)" in text
    assert "(default: 1.0)" in text and "(default: None)" not in text
    assert "(default: False)" not in text and "default: default" not in text.lower()


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_list_options_share_one_syntax(path, parser):
    for action in parser._actions:
        if action.dest in LIST_OPTIONS and action.option_strings:
            assert isinstance(action, cli._ListAction), f"{' '.join(path)} --{action.dest}"


@pytest.mark.parametrize(
    ("argv", "dest", "expected"),
    [
        (["sweep", "--dataset", "x", "--models", "a,b", "c"], "models", ["a", "b", "c"]),
        (["sweep", "--dataset", "x", "--models", "a", "b,", "a"], "models", ["a", "b"]),
        (["sweep", "--dataset", "x", "--models", "a", "--seeds", "0,1", "2"], "seeds", [0, 1, 2]),
        (["sweep", "--dataset", "x", "--models", "a", "--fractions", "0.1", "1"], "fractions",
         [0.1, 1.0]),
        (["demo", "--models", "lcnet_050,resnet18"], "models", ["lcnet_050", "resnet18"]),
        (["bundle", "create", "out", "--datasets", "breastmnist", "dermamnist,pathmnist"],
         "datasets", ["breastmnist", "dermamnist", "pathmnist"]),
        (["bundle", "create", "out", "--sizes", "28,64"], "sizes", [28, 64]),
        (["bundle", "create", "out", "--models", "resnet18", "efficientnet_b0"], "models",
         ["resnet18", "efficientnet_b0"]),
    ],
)
def test_lists_accept_commas_spaces_or_both(argv, dest, expected):
    assert getattr(cli.build_parser().parse_args(argv), dest) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--models", "a", "--dataset", "x", "--shard", "5/2"],
         "argument --shard: '5/2' must be i/n with 0 <= i < n"),
        (["sweep", "--models", "a", "--dataset", "x", "--lr", "-1"],
         "argument --lr: '-1' must be a number > 0"),
        (["sweep", "--models", "a", "--dataset", "x", "--batch-size", "0"],
         "argument --batch-size: '0' must be a whole number >= 1"),
        (["bundle", "create", "out", "--sizes", "28,big"],
         "argument --sizes: 'big' is not a valid int"),
        (["demo", "--epochs", "none"], "argument --epochs: 'none' must be a whole number"),
    ],
)
def test_usage_errors_name_the_option_in_one_line(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert f"(see 'peprkit {argv[0]}" in err


def test_library_errors_are_rewritten_as_options():
    sweep = cli.build_parser()._subparsers._group_actions[0].choices["sweep"]
    assert cli._name_options("model='resnet81' is not a timm model.", sweep) == (
        "--models resnet81 is not a timm model.")
    assert cli._name_options("epochs=0 must be >= 1; batch_size=3.5 too", sweep) == (
        "--epochs 0 must be >= 1; --batch-size 3.5 too")
    bundle = cli.build_parser()._subparsers._group_actions[0].choices["bundle"]
    assert cli._name_options("pass datasets=, or paper_results=True", bundle) == (
        "pass --datasets, or --paper-results")
    assert cli._name_options("unrelated=3 and `df=x`", sweep) == "unrelated=3 and `df=x`"


def test_suggestions_are_not_repeated():
    assert did_you_mean("resnet1", ["resnet18", "resnet18", "resnet61q", "resnet18"]) == (
        " Did you mean: resnet18, resnet61q?")


def test_unknown_model_suggests_each_name_once(capsys):
    pytest.importorskip("timm")
    assert cli.main(["demo", "--models", "resnet1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peprkit demo: error: --models resnet1 is not a timm model")
    names = re.search(r"Did you mean: ([^?]+)\?", err).group(1).split(", ")
    assert len(names) == len(set(names)) > 0, err
