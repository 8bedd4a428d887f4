# exit: 1
# stderr: Traceback (most recent call last):
# stderr:   File "{script}", line 14, in <module>
# stderr:     raise exc
# stderr: QuotaExceeded: used 11 of 10 units
# stderr: hint: raise your quota


class QuotaExceeded(Exception):
    pass

exc = QuotaExceeded("used 11 of 10 units")
exc.add_note("hint: raise your quota")
raise exc
