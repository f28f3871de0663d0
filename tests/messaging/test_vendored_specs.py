"""The vendored provider specs must match the team's shared copy when one is beside the repo."""

import gzip
from pathlib import Path

import pytest

from tests.messaging.fake_providers import VENDORED_SPECS

SHARED = Path(__file__).resolve().parents[3] / "shared" / "specs"


@pytest.mark.parametrize("relative", ["telegram/api.json", "twilio/twilio_api_v2010.json"])
def test_vendored_spec_matches_the_shared_copy(relative: str) -> None:
    shared = SHARED / relative
    if not shared.exists():
        pytest.skip(f"no shared spec at {shared} to compare with")
    vendored = gzip.decompress((VENDORED_SPECS / (relative + ".gz")).read_bytes())
    assert vendored == shared.read_bytes(), f"refresh tests/messaging/specs/{relative}.gz"
