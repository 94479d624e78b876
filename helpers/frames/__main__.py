"""``python -m helpers.frames``: the command line of :mod:`helpers.frames.cli`."""

import sys

from helpers.frames.cli import main

if __name__ == "__main__":
    sys.exit(main())
