"""The vendored provider specs must match the team's shared copy when one is beside the repo."""

import gzip
import os
from pathlib import Path

import pytest

from tests.messaging.fake_providers import VENDORED_SPECS

# The team's unpacked copy: BACKORDER_SPECS_DIR, else a ``shared/specs`` beside the clone.
SHARED = Path(
    os.environ.get("BACKORDER_SPECS_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "specs"
)


@pytest.mark.parametrize("relative", ["telegram/api.json", "twilio/twilio_api_v2010.json"])
def test_vendored_spec_matches_the_shared_copy(relative: str) -> None:
    shared = SHARED / relative
    if not shared.exists():
        # The reason names no path: outside the project it means nothing to another clone.
        pytest.skip(f"no unpacked copy of {relative} to compare with (set BACKORDER_SPECS_DIR)")
    vendored = gzip.decompress((VENDORED_SPECS / (relative + ".gz")).read_bytes())
    assert vendored == shared.read_bytes(), f"refresh tests/messaging/specs/{relative}.gz"
