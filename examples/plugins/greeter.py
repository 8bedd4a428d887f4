"""Greets whoever an event names, in the language the host's settings say."""
from host import tools

GREETINGS = {"en": "Hello", "fr": "Bonjour"}
language = tools.get_setting("language")


def on_event(event):
    name = event.get("user", "stranger")
    tools.log(f"greeting {name}")
    return {"plugin": "greeter", "reply": f"{GREETINGS.get(language, 'Hi')}, {name}!"}
