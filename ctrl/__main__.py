import sys

from ctrl.cli import main

sys.exit(main())
