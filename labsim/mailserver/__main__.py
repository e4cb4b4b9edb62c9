import sys

from labsim.mailserver.cli import main

sys.exit(main())
