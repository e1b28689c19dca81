from __future__ import annotations

import pytest

from apikeys.verification import local_memo


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    # Each test starts as a fresh web process would: nothing verified yet.
    local_memo.clear()
