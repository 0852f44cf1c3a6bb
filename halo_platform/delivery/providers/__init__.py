"""Provider kinds. Every module here defining a `Provider` subclass with a `kind` is a kind
(found by `core.plugins.discover`); the `providers` resource builds and owns the clients.
The interface every kind implements is in `base.py`."""
