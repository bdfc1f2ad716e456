"""``python -m fcd.cli``: fcctl without the installed console script."""

from __future__ import annotations

import sys

from fcd.cli import main

sys.exit(main())
