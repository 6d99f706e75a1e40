import sys

from tens.cli import main

sys.exit(main())
