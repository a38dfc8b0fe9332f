"""Worked solutions of the exercises, one module per chapter (``solutions.ch01`` ...).

Each module exports ``SOLUTIONS``: a dict mapping the name of every check in
``scoretutor.exercises.chNN`` to the solution it should accept. Look here only after trying.
"""
