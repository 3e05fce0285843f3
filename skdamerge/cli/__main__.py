"""``python -m skdamerge.cli``: the ``skdamerge`` command."""

import sys

from skdamerge.cli import main

if __name__ == "__main__":
    sys.exit(main())
