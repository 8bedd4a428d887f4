# flags: --memory 64M
# stdout: staging past the memory limit: Error_LimitReached
# stdout: the memory comes back: 40 MiB allocated
# sandbox-only: calls the sandbox's host interface directly
# A value goes to the host in pieces that the host keeps until the send.
# Those bytes are the guest's: a guest that stages piece after piece, each
# gone from its own memory at once, must still meet its memory limit.
from componentize_py_types import Err
from wit_world.imports import host

piece = ("\x00" * (1 << 20), False)  # 1 MiB, as ASCII text
outcome = "accepted"
try:
    host.stage_piece(piece, True)
    for _ in range(200):
        host.stage_piece(piece, False)
except Err as err:
    outcome = type(err.value).__name__
print("staging past the memory limit:", outcome)
block = bytearray(40 << 20)
print("the memory comes back:", len(block) >> 20, "MiB allocated")
