"""Results: the stored count of a closed round, participation, overrides and the council report."""
