"""The ``lead-hf`` command: one entry point, one subcommand per job.

Subcommands are imported only when used, so ``lead-hf --help`` is instant. Subcommand NAME lives in
``lead_hf.cli.NAME``, which exposes ``COMMAND = Command(...)``: its options dataclass, the function that
runs it, and its help.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .command import Command

# name -> one-line help. lead_hf.cli.<name> defines COMMAND.
SUBCOMMANDS: dict[str, str] = {
    "rank": "rank candidate models on a dataset split (no arguments: the offline demo)",
    "extract": "extract and cache features and logits of models on a dataset split",
    "score": "score saved features with LEAD or a baseline",
    "publish": "publish ranking results to Hub model cards and a leaderboard",
    "finetune": "fine-tune a model to get ground-truth accuracy",
    "benchmark": "measure how well each score's ranking agrees with fine-tuning",
}


def build_parser(name: str | None = None) -> argparse.ArgumentParser:
    """The ``lead-hf`` parser; with ``name``, that subcommand's full parser is ``parser.subcommand``."""
    from ..utils.config import add_options_arguments, plain_text

    parser = argparse.ArgumentParser(
        prog="lead-hf", description="Rank pre-trained models for fine-tuning on your data, without fine-tuning them.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.subcommand = None
    for cmd_name, help_text in SUBCOMMANDS.items():
        if name is not None and cmd_name == name:
            command = load_command(cmd_name)
            # allow_abbrev=False: a prefix such as --models must never be taken for --models-file
            p = sub.add_parser(cmd_name, help=help_text, description=plain_text(command.description),
                               formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
            p.add_argument("--config", metavar="YAML", help="YAML file of options; flags override it")
            add_options_arguments(p, command.options, positional=command.positional)
            parser.subcommand = p
        else:
            sub.add_parser(cmd_name, help=help_text, add_help=False)
    return parser


def load_command(name: str) -> Command:
    return importlib.import_module(f"{__name__}.{name}").COMMAND


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    name = next((a for a in argv if not a.startswith("-")), None)
    if name not in SUBCOMMANDS:
        name = None
    parser = build_parser(name)
    args, extra = parser.parse_known_args(argv)
    if extra:  # report it with the subcommand's usage, which is the one that lists its options
        (parser.subcommand or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return parser, args


def _options(args: argparse.Namespace):
    from ..utils.config import load_yaml, options_from

    command = load_command(args.command)
    values = {k: v for k, v in vars(args).items() if k not in {"command", "config", "version"}}
    yaml_values = load_yaml(args.config) if args.config else {}
    return command, options_from(command.options, yaml_values, values)


def parse_options(argv: list[str]):
    """(Command, options dataclass) of a ``lead-hf`` command line, without running it. An argparse error
    exits (SystemExit 2) as the command would; a bad value raises ValueError."""
    parser, args = _parse(list(argv))
    if args.command is None:
        parser.error("no command given")
    return _options(args)


def passive_openmp_waiting() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE for this process unless the user set it, before torch is imported.

    OpenMP threads that spin while they wait for work take the CPU from the threads doing it whenever
    the cores are shared (other jobs, DataLoader workers): measured on this project's 2-core machine
    under load, a 32-image MobileNetV2 forward ran at 15 img/s spinning and 47 img/s passive, and a
    2049 x 2049 eigh took 40 s against 2.7 s. Waiting passively changes no result (the same operations
    run in the same order). The runtime reads the variable once, when torch loads it, so this is a
    no-op after ``import torch``.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def flag_message(err: Exception) -> str:
    """An option's error as the command line spells the option: ``--max-per-class must be ...`` (the Python
    API's message names the field, ``max_per_class must be ...``)."""
    from ..utils.constraints import OptionError

    if isinstance(err, OptionError) and err.option.isidentifier():
        return f"--{err.option.replace('_', '-')} must be {err.allowed}, got {err.value!r}"
    return str(err)


def main(argv: list[str] | None = None) -> int:
    passive_openmp_waiting()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, args = _parse(argv)
    if not argv:  # no arguments: the help, and where the demo is (it takes minutes, so never by surprise)
        parser.print_help()
        print("\nThe offline demo ranks the embedded ImageNet zoo on scikit-learn's digits: lead-hf rank")
        return 0
    if args.version:
        from .. import __version__
        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        command, opts = _options(args)
        code = command.run(opts)
    except (ValueError, OSError, FloatingPointError) as err:
        # user-facing failures (bad input, missing or unwritable files, a diverged or non-finite
        # computation) end with their message, not a traceback; LEAD_HF_TRACEBACK=1 shows it
        if os.environ.get("LEAD_HF_TRACEBACK"):
            raise
        print(f"lead-hf {args.command}: error: {flag_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lead-hf {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
