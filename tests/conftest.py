import os
import pathlib

import numpy as np
import pytest

REFERENCE = pathlib.Path(
    os.environ.get("HLMM_REFERENCE",
                   pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "reference")
)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def reference_dir():
    if not REFERENCE.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"reference data not found at {REFERENCE}")
        pytest.skip(f"reference data not found at {REFERENCE}")
    return REFERENCE
