"""Grading: check results to points, reports in several formats, and the progress store."""

from labsim.grading.progress import Attempt, ProgressError, ProgressStore, ScenarioProgress
from labsim.grading.reports import FORMATS, render
from labsim.grading.score import CheckScore, Grade, HintTaken, Score, score

__all__ = [
    "FORMATS",
    "Attempt",
    "CheckScore",
    "Grade",
    "HintTaken",
    "ProgressError",
    "ProgressStore",
    "ScenarioProgress",
    "Score",
    "render",
    "score",
]
