# exit: 1
# stdout: before
# stderr: Traceback (most recent call last):
# stderr:   File "{script}", line 22, in <module>
# stderr:     main()
# stderr:     ~~~~^^
# stderr:   File "{script}", line 19, in main
# stderr:     return parse({"count": "x"})
# stderr:   File "{script}", line 16, in parse
# stderr:     return int(config["count"]) * 2
# stderr:            ~~~^^^^^^^^^^^^^^^^^
# stderr: ValueError: invalid literal for int() with base 10: 'x'


def parse(config):
    return int(config["count"]) * 2

def main():
    return parse({"count": "x"})

print("before")
main()
