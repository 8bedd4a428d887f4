"""The `mymodule` of PEP 734's examples (examples/pep734/): what the PEP
leaves to the reader, made small and checkable."""

# Example 1 -------------------------------------------------------------------

_handled = []


def iter_requests():
    yield from range(20)


def handle_request(req):
    if req == 13:
        raise ValueError(f"unlucky request {req}")
    return req * req


def capture_exception(exc):
    return f"{type(exc).__name__}: {exc}"


def handle_result(res):
    _handled.append(res)


def summary():
    numbers = [res for res in _handled if isinstance(res, int)]
    errors = [res for res in _handled if isinstance(res, str)]
    return f"handled {len(_handled)} requests: total {sum(numbers)}, errors {errors}"


# Synchronization -----------------------------------------------------------

EDITS = 30


def load_big_data():
    return bytes(8)


def edit_data(data):
    """One worker's edit: counts itself in the data's first byte."""
    return bytes([data[0] + 1]) + data[1:]


def check_data(data):
    """Whether the workers should go on editing."""
    return data[0] < EDITS


# Example 2 -------------------------------------------------------------------


def read_large_data_set():
    return bytes(range(256)) * 40, 1000


def reduce_chunk(chunk):
    return sum(chunk) % 256


def use_results(results):
    print(f"{len(results)} chunks reduced: {list(results[:5])}..., checksum {sum(results)}")
