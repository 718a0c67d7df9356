from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "protocol" / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def bus() -> Iterator[Any]:
    """One real bus for the end-to-end tests (tests/bus.py)."""
    from .bus import Bus

    b = Bus()
    try:
        b.setup()
        b.start()
        yield b
    finally:
        b.stop()
