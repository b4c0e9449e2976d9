"""Persistence: nova's tables (``models``), queries (``api``), migrations."""
