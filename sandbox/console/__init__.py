"""The demo's CSM console: the shipped dashboard, list views and an Account 360, read from the org's APIs.

A newcomer has no org; this shows what their CSMs would see in Lightning, rendered only from what the
org's REST, Analytics and List Views APIs return (never the sandbox's records directly), so it shows
exactly what the shipped metadata makes of the data the jobs wrote.
"""

from sandbox.console.app import ConsoleApp, serve_console

__all__ = ["ConsoleApp", "serve_console"]
