"""A SOQL subset: tokenizer, recursive-descent parser, and an evaluator over the sandbox store."""
