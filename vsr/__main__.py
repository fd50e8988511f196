"""`python -m vsr ...` runs the command line, for environments without the `vsr` script."""

import sys

from vsr.cli import main

sys.exit(main())
