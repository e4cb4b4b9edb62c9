"""A learner's study session: scenarios with progress, their labs, checks, hints and solutions.

Both faces of labsim use it: the Textual app (labsim/tui) and the learner's
commands (`labsim list|start|check|hint|solve|grade ...`, in commands/).
Nothing here imports textual.
"""
