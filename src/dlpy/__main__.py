"""`python -m dlpy ...` runs the `dlpy` command."""

import sys

from dlpy.cli import main

sys.exit(main())
