from tests.desktop.conftest import qloop, qt_warnings_fail  # noqa: F401  (shared Qt fixtures)
