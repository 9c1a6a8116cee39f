"""The probes (no torch): probe sentences validated and tokenized (sentences.py), the labelled relations
of a relation probe (relations.py), and the built-in relation sets (relation_sets.py)."""
