"""The frozen ``titan`` executable: the same entry point as the ``titan`` console script."""

import multiprocessing
import sys

from titan_desktop.launcher import main

if __name__ == "__main__":
    # Jason's LM decoder runs in a child process (spawned): in the bundle the child is this
    # executable again, and freeze_support() turns it into that child instead of a second app.
    multiprocessing.freeze_support()
    sys.exit(main())
