"""``python -m burgerbegroting.voting.tally FILE.pb --rule RULE``: recount with nothing but Python."""

import sys

from burgerbegroting.voting.tally.cli import main

sys.exit(main())
