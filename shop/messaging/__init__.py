"""The messaging core: envelopes, contracts, the two buses, the outbound seam and the consumers.

Service apps talk to each other only through this package; none of them imports another
service app (``tests/unit/test_coupling.py`` checks it).
"""
