"""lmforge flows and the command line: wiring only."""
