"""A registered version's model card: built from what its steps recorded in the registry, rendered as Markdown with
a JSON twin, and checked figure by figure against those records."""
