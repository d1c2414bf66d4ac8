"""Titan's Qt-free core: config, database, queue, pipeline, ops loop, API and CLI."""

__version__ = "0.1.0"
