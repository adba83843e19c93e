"""The application: the command line, the Hydra main, one experiment from config to result, the
config schema and its validation, sweeps, and the errors users see.

The only room that imports Hydra; it may import every other room.
"""
