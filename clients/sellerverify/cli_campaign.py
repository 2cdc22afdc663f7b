"""`sellerverify` verbs of the campaign area (registered by cli.build_parser)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add this area's verbs to the `sellerverify` parser (none yet)."""
