# flags: --timeout 500ms
# exit: 124
# stdout: looping
# stderr: isolate: time limit of 500ms exceeded
# sandbox-only: the time limit
# A loop that catches every exception, KeyboardInterrupt and SystemExit
# included, and even an exception in its own handler, cannot outlive the limit.
import sys

print("looping")
while True:
    try:
        try:
            while True:
                pass
        except BaseException:
            sys.exit(0)
    except BaseException:
        continue
