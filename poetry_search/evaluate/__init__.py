"""Evaluation: the eval tasks and their metrics."""
