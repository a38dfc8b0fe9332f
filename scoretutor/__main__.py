"""``python -m scoretutor train | export | evaluate | davis | download`` (see :mod:`scoretutor.cli`)."""
import sys

from .cli import main

sys.exit(main())
