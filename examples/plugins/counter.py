"""Counts events by kind, across events: its state lives in its interpreter."""
from collections import Counter

from host import tools

seen = Counter()


def on_event(event):
    seen[event["kind"]] += 1
    if seen[event["kind"]] == int(tools.get_setting("alert_after")):
        tools.log(f"{event['kind']} seen {seen[event['kind']]} times")
    return {"plugin": "counter", "counts": dict(seen)}
