"""The teaching layer, on top of the services: the walkthrough (``manage.py walkthrough`` and its
web page), the evidence (the lesson's tables computed from the code and the message log) and the
admin's comparison of the two modes.

Nothing below imports it (tests/unit/test_layers.py): the services run the same without it.
"""
