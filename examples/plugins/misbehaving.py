"""A plugin written to misbehave, one way per kind of event."""


def on_event(event):
    if event["kind"] == "loop":
        while True:  # the host's time limit stops it
            pass
    if event["kind"] == "raise":
        raise ValueError("this plugin refuses " + repr(event))
    if event["kind"] == "hoard":
        return (x for x in range(10))  # a generator cannot be copied out
    return {"plugin": "misbehaving", "ok": True}
