"""Proposals: submission, co-authors, supports, review, merge, and the public gallery."""
