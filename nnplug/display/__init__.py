"""What a person sees: the progress of a run, plain-text tables and the pictures of a run.

Imports the core's events (a ``Progress`` is a Solver listener), tqdm and matplotlib, the last two
only when something is drawn.
"""
