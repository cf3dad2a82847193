"""`python -m gan_zoo COMMAND [--flags]`: the same as the `gan-zoo` console script."""
import sys

from gan_zoo.cli.console import main

sys.exit(main())
