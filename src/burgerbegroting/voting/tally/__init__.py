"""The counting engine: pure, exact, standard library only.

``model`` (elections and outcomes), ``tiebreak``, the rules (``greedy``, ``phragmen``, ``mes``)
registered by name in ``rules``, the pabulib reader and writer (``pabulib``), a Dutch
explanation (``explain``) and the command line (``cli``; ``python -m burgerbegroting.voting.tally``).
"""
