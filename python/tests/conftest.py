import pytest

import isolate_wasm as iso


@pytest.fixture
def interp():
    with iso.create(stdout="capture", stderr="capture") as interp:
        yield interp
