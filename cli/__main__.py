"""`python -m cli ARGS`: the `lmforge` command, from a checkout."""

import sys

from cli.app import main

sys.exit(main())
