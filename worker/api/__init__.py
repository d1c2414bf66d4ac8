"""Titan's REST API (FastAPI): projects, ops changes, health and metrics."""
