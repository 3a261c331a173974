"""What runs: one module per job kind, plus the state store, the planner and the writer."""

from jobs.field_expressions import install as _install_field_expressions

_install_field_expressions()  # specs' computed fields are written in the mapping language
