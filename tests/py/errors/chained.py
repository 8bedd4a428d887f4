# exit: 1
# stderr: Traceback (most recent call last):
# stderr:   File "{script}", line 19, in load
# stderr:     return {}[key]
# stderr:            ~~^^^^^
# stderr: KeyError: 'port'
# stderr: 
# stderr: The above exception was the direct cause of the following exception:
# stderr: 
# stderr: Traceback (most recent call last):
# stderr:   File "{script}", line 24, in <module>
# stderr:     load("port")
# stderr:     ~~~~^^^^^^^^
# stderr:   File "{script}", line 21, in load
# stderr:     raise LookupError(f"no setting {key!r}") from exc
# stderr: LookupError: no setting 'port'
def load(key):
    try:
        return {}[key]
    except KeyError as exc:
        raise LookupError(f"no setting {key!r}") from exc


load("port")
