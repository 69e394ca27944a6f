# Seed 002: the app cannot be created, so every gunicorn worker exits
# while importing it and the arbiter respawns workers forever.
import logging
import sys

logging.error("Failed to load configuration")
sys.exit(2)
