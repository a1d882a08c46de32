"""Plumbing the services share and the runtime does not need: serving, following a stream, the object
store and its keys, the settings base. The services never import one another; what they all need lives
here (and in `wire/` when the runtime needs it too)."""
