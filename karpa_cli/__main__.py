"""`python -m karpa_cli ...`: the same as the `karpa` command."""

import sys

from karpa_cli.main import main

sys.exit(main())
