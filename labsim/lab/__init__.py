"""Labs: where the learner works, over the local and Docker backends."""
