"""PyInstaller runtime hook: give child processes the user's library path, not the bundle's.

On Linux the bootloader points LD_LIBRARY_PATH at the bundle so Python's extension modules find
their libraries. Children (git, espeak-ng, pgserver's PostgreSQL, a template's build tools) would
inherit it and load the bundle's copies of libssl, libz, ... instead of their own, which breaks
them in ways that look unrelated. The running process has already resolved its libraries, so
restoring the original value here changes nothing for it. The worker this executable starts as
its own child gets the bundle path again from its own bootloader.
"""

import os

for _name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
    _original = os.environ.pop(_name + "_ORIG", None)
    if _original is not None:
        os.environ[_name] = _original
    elif _name in os.environ:
        del os.environ[_name]
