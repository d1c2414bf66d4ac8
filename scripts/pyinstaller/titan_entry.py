"""The frozen ``titan`` executable: the same entry point as the ``titan`` console script."""

import sys

from titan_desktop.launcher import main

if __name__ == "__main__":
    sys.exit(main())
