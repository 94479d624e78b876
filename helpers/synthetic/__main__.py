"""``python -m helpers.synthetic``: see :mod:`helpers.synthetic.cli`."""

import sys

from helpers.synthetic.cli import main

if __name__ == "__main__":
    sys.exit(main())
