"""The ``titan`` console script.

``titan`` with no arguments (or with GUI flags) opens the desktop app; every subcommand is the
Qt-free core's CLI (``worker.cli``), so ``titan worker`` runs on a server without Qt installed.
Desktop-only subcommands (``titan jason ...``) are dispatched here.
"""

from __future__ import annotations

import sys

GUI_FLAGS = ("--smoke-test", "--screenshot")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "jason":
        from titan_desktop.jason.cli import main as jason_main

        return jason_main(args[1:])
    if not args or args[0].startswith(GUI_FLAGS):
        try:
            from titan_desktop.app import main as gui_main
        except ImportError as exc:  # a server install without the desktop extra
            print(f"titan: the desktop app is not installed ({exc}); "
                  "install titan[desktop] or use a subcommand (titan --help)", file=sys.stderr)
            return 2
        return gui_main(args)
    from worker.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
