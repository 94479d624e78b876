"""genuine-posed: the tested helpers behind the notebooks.

Import the modules you need explicitly, e.g. ``from helpers import data``; importing this package has
no side effects (nothing is downloaded or generated at import time).
"""

# The only place that states the version: pyproject.toml reads it (`dynamic = ["version"]`), and every
# link (Colab badges, the notebooks' install line, the book's launch buttons) uses the tag v<version>.
# Making a release:
#   1. bump __version__ here;
#   2. run `python -m helpers.book badges` (rewrites _config.yml's branch, the notebooks' badges and
#      install lines, and README's badges and install line to the new tag);
#   3. merge into main: .github/workflows/release.yml tags the commit v<version> once its tests pass.
# The badges and install lines only resolve once the tag exists (a fork must tag too: README.md).
__version__ = "0.1.0"
