"""The ``lead-hf`` command: one entry point, one subcommand per job.

Subcommands are imported only when used, so ``lead-hf --help`` is instant. Each subcommand module exposes
``COMMAND = Command(...)``: its options dataclass, the function that runs it, and its help.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

# name -> (module, one-line help). The module defines COMMAND.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "rank": ("lead_hf.rank", "rank candidate models on a dataset split (no arguments: the offline demo)"),
    "extract": ("lead_hf.extract.command", "extract and cache features and logits of models on a dataset split"),
    "score": ("lead_hf.score_command", "score saved features with LEAD or a baseline"),
    "publish": ("lead_hf.hub.command", "publish ranking results to Hub model cards and a leaderboard"),
    "finetune": ("lead_hf.finetune", "fine-tune a model to get ground-truth accuracy"),
    "benchmark": ("lead_hf.benchmark", "measure how well each score's ranking agrees with fine-tuning"),
}


@dataclass
class Command:
    name: str
    options: type
    run: Callable[[Any], int | None]
    description: str
    positional: tuple[str, ...] = ()


def build_parser(name: str | None = None) -> argparse.ArgumentParser:
    from .config import add_options_arguments

    parser = argparse.ArgumentParser(
        prog="lead-hf", description="Rank pre-trained models for fine-tuning on your data, without fine-tuning them.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd_name, (module, help_text) in SUBCOMMANDS.items():
        if name is not None and cmd_name == name:
            command = load_command(cmd_name)
            p = sub.add_parser(cmd_name, help=help_text, description=command.description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
            p.add_argument("--config", metavar="YAML", help="YAML file of options; flags override it")
            add_options_arguments(p, command.options, positional=command.positional)
        else:
            sub.add_parser(cmd_name, help=help_text, add_help=False)
    return parser


def load_command(name: str) -> Command:
    module, _ = SUBCOMMANDS[name]
    return importlib.import_module(module).COMMAND


def main(argv: list[str] | None = None) -> int:
    from .config import load_yaml, options_from

    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    if name not in SUBCOMMANDS:
        name = None
    if name is None and not argv:
        argv = ["rank"]  # no arguments at all: the offline demo
        name = "rank"
    parser = build_parser(name)
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    command = load_command(args.command)
    values = {k: v for k, v in vars(args).items() if k not in {"command", "config", "version"}}
    try:
        yaml_values = load_yaml(args.config) if args.config else {}
        opts = options_from(command.options, yaml_values, values)
        code = command.run(opts)
    except (ValueError, FileNotFoundError, PermissionError) as err:
        print(f"lead-hf {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lead-hf {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
