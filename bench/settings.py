"""Django settings for the benchmarks: the project's settings plus a fixed, bench-only secret.

The project refuses to start without DJANGO_SECRET_KEY so a deployment cannot run on a guessable
one. A benchmark serves no request and signs nothing, so a known key is harmless here, and
spares whoever runs ``make bench`` from exporting one. The benchmarks measure the code as the
demo configures it: nothing else is changed (SHOP_RETRY_DELAY_SCALE included, unlike
tests/settings.py), so the numbers describe the app, not a test setup.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-insecure-key")

from shop.settings import *  # noqa: F403
