"""Checks on the analysed models: declared expectations (expect.py) and the comparison with a baseline
(compare.py)."""
