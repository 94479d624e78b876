"""genuine-posed: the tested helpers behind the notebooks.

Import the modules you need explicitly, e.g. ``from helpers import data``; importing this package has
no side effects (nothing is downloaded or generated at import time).
"""

__version__ = "0.1.0"
