"""The Textual app: the way learners use labsim (the only room that imports textual)."""
