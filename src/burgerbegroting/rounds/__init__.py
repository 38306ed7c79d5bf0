"""Budget rounds: districts, themes, phases, ballot settings and the frozen, fingerprinted definition."""
