"""The parser of the ``skdamerge`` command, one subparser per subcommand."""

from __future__ import annotations

import argparse
from types import ModuleType

from .. import __version__
from . import _fit, _predict, _reproduce
from ._arg_types import positive_int
from ._errors import UsageError

__all__ = ["COMMANDS", "build_parser"]

#: The subcommands, in the order of ``skdamerge --help``: each module has ``HELP``,
#: ``DESCRIPTION``, ``EPILOG``, ``add_arguments(parser)`` and ``run(args, argv)``.
COMMANDS: dict[str, ModuleType] = {
    "reproduce": _reproduce,
    "fit": _fit,
    "predict": _predict,
}


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line on stderr."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


_FORMATTER = argparse.RawDescriptionHelpFormatter

_MAIN_EPILOG = """\
examples:
  skdamerge reproduce --profile quick --out results/
  skdamerge fit --source X.npy --labels y.npy --target Xt.npy --method mmd \\
      --param max_epochs=20 --model model.skdm
  skdamerge predict --model model.skdm --images cutouts/ --out catalog.csv
  skdamerge predict --model model.skdm --catalog objects.fits \\
      --tiles 'tiles/*_{band}.fits' --bands g r i --out mergers.fits

Run 'skdamerge <command> --help' for the options of each command.
"""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads of torch (default: torch's, one per core; a fit's "
        "result depends on it)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the full traceback on errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``skdamerge`` and its subcommands.

    Returns
    -------
    argparse.ArgumentParser
        Its ``error`` raises :class:`~skdamerge.cli._errors.UsageError` instead of
        exiting; ``command`` names the chosen subcommand (None when absent).
    """
    parser = _Parser(
        prog="skdamerge",
        description="Domain adaptation for galaxy-merger classification "
        "(DeepMerge II) from the command line.",
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument(
        "--version", action="version", version=f"skdamerge {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, module in COMMANDS.items():
        subparser = commands.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=_FORMATTER,
        )
        module.add_arguments(subparser)
        _add_common(subparser)
    return parser
