"""The broken release for scripts/gunicorn-e2e: importing it fails, like a deploy that
forgot a dependency. gunicorn's worker cannot boot, so its master exits with 3."""

import hupwatch_e2e_dependency_that_is_not_installed  # noqa: F401

app = None
