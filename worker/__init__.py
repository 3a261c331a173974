"""How csm-sync runs: command line, settings, logging, scheduling and run records."""
