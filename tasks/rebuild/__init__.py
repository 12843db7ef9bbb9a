"""Rebuilding a registered version from its lineage (recorded commit, data version, params) and comparing the result
with what was registered: `lmforge reproduce`."""
