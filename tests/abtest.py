"""Old name of the tests' helper module (now ``projects``), kept only for the fingerprint tests'
``from abtest import cli`` until they import ``projects``: delete it then."""

from projects import cli

__all__ = ["cli"]
