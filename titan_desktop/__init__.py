"""Titan's desktop app (PySide6 + qasync). Importing this package does not import Qt."""
