"""``python -m fanin``: the ``fanin`` command (see :mod:`fanin.cli`)."""

import sys

from fanin.cli import main

if __name__ == "__main__":
    sys.exit(main())
