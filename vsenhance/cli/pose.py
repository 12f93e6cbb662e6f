"""``vsenhance`` pose commands (argument parsing only)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the top-level parser (filled in with the feature)."""
