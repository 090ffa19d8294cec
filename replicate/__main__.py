"""``python -m replicate``: the same entry point as the ``replicate`` console script."""
import sys

from replicate.cli import main

sys.exit(main())
