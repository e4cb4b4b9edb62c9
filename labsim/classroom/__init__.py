"""Classrooms: one lab per student, watched and graded together; and self-graded assignments.

roster.py     the class list (CSV or YAML) with file:line errors
limits.py     per-lab resource limits and the labels that mark a class's containers
store.py      what a class is (students, scenarios, labs), kept under the user data dir
service.py    up, status, attach, check, down: the class's labs through the Lab interface
board.py      who passed what and since when, from the check runs
gradebook.py  class grade: CSV gradebook, per-student JSON and Markdown feedback, JUnit XML
assignment.py pack scenarios into one file; run it, headless, and write the report
outpath.py    report and assignment paths, checked before any lab is made or checked
errors.py     ClassError (status 1) and ClassUsageError (status 2)
commands.py   the `labsim class` and `labsim assignment` commands
"""
