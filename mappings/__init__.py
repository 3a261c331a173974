"""The mapping language admins edit: schema, safe expressions, evaluation, and the default files."""
