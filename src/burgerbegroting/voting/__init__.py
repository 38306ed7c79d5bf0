"""Voting: eligibility, ballot casting, receipts, the ballot log and the counting engine."""
