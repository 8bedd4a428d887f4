# flags: --fuel 20000000
# exit: 125
# stdout: counting
# stderr: isolate: fuel limit of 20000000 exceeded
# sandbox-only: the fuel limit
# A loop that catches everything cannot escape the fuel limit either.
print("counting")
n = 0
while True:
    try:
        while True:
            n += 1
    except BaseException:
        pass
