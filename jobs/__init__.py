"""What runs: one module per job kind, plus the state store, the planner and the writer."""
