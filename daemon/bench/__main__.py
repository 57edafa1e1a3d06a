"""``python -m genred.daemon.bench --child ...``: the measuring child of `genred bench`."""

import sys

from .child import main

sys.exit(main())
