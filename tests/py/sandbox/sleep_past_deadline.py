# flags: --timeout 500ms
# exit: 124
# stdout: sleeping
# stderr: isolate: time limit of 500ms exceeded
# sandbox-only: the time limit
# Waits in the host (a sleep, a select) end at the deadline as loops do.
import select
import sys
import time

print("sleeping")
time.sleep(3600)
select.select([], [], [], 3600)
