"""The test settings without the fraud app: the only change event mode needs to drop (or add) fraud.

Used by tests/unit/test_fraud_optional.py in a subprocess, with DATABASE_URL pointing at a
temporary SQLite file.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _ALL_APPS

INSTALLED_APPS = [app for app in _ALL_APPS if app != "fraud"]
