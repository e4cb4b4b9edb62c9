import sys

from bench.mailbench import main

sys.exit(main())
