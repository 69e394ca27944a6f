#!/usr/bin/python3
# A deploy gone wrong: the app gets DIE_AFTER_SECONDS (default 1.1) into its
# start, never having served, and dies (an import error in a module loaded
# late, a configuration read at the end of start-up).
import os
import sys
import time

time.sleep(float(os.environ.get('DIE_AFTER_SECONDS', '1.1')))
sys.exit('die_late.py: RuntimeError: settings.DATABASES is improperly configured')
