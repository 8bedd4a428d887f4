# stdout: list freed
# stdout: dict freed
# stdout: tuple freed
# stdout: object freed
# stdout: slots freed
# stdout: partial freed
# stdout: closure freed
# stdout: still working: 42
# Freeing a chain nested 300,000 deep recurses in C, once per link: CPython
# defers the links it frees past its C-stack guard, so no chain ends the
# interpreter (the guest used to end near 18,000 links of a list, 8,800 of
# a functools.partial, 5,700 of closures).
import functools


class Plain:
    pass


class Slotted:
    __slots__ = ("next",)


def chain(kind, links):
    head = None
    for _ in range(links):
        if kind == "list":
            head = [head]
        elif kind == "dict":
            head = {"next": head}
        elif kind == "tuple":
            head = (head, 0)
        elif kind == "object":
            link = Plain()
            link.next = head
            head = link
        elif kind == "slots":
            link = Slotted()
            link.next = head
            head = link
        elif kind == "partial":
            head = functools.partial(print, head)
        elif kind == "closure":
            head = (lambda inner: lambda: inner)(head)
    return head


def free(kind):
    head = chain(kind, 300_000)
    del head
    print(kind, "freed")


for kind in ["list", "dict", "tuple", "object", "slots", "partial", "closure"]:
    free(kind)
print("still working:", 6 * 7)
