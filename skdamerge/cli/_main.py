"""Entry point of the ``skdamerge`` command: parse, set up, dispatch, report errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, one_line
from ._parser import COMMANDS, build_parser
from ._resources import set_threads

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skdamerge`` command.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 on an error, 2 on a usage error, 130 when
        interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    import torch

    threads = torch.get_num_threads()
    set_threads(args.threads)
    try:
        return COMMANDS[args.command].run(args, argv)
    except KeyboardInterrupt:
        print("\nskdamerge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.traceback or os.environ.get("SKDAMERGE_TRACEBACK"):
            raise
        print(f"skdamerge {args.command}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        torch.set_num_threads(threads)  # main() may run inside another program
