"""Evidence for the lesson's two comparison tables, computed rather than written.

- ``sources``: this repository's files, their syntax trees, and excerpts of exact lines.
- ``imports``: which module imports which app (the app-level import graph).
- ``declarations``: what the source declares: contracts, command handlers, subscribers.
- ``coupling``: which consumers each producer module names, per mode.
- ``naming``: the message names per mode, checked against ``messaging.kernel.names``.
- ``selectors``: what this database shows happened, per mode (reads only).
- ``tables``: the twelve rows, each cell from the above (``comparison_tables``).

Every static function takes ``root`` so that a test can analyse a modified copy of the code.
"""
