import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import is_hypothesis_test  # noqa: E402

# `make test` and CI: the same examples on every run, no example database carried between runs.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
# `make fuzz`: fresh random examples every run (see tests/property_settings.py for how many).
settings.register_profile("fuzz", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("ADVEX_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "reader: opens the built book in headless Chromium (needs `make book-build`)")
    config.addinivalue_line("markers", "property: a hypothesis property test (selected by `make fuzz`)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_hypothesis_test(getattr(item, "obj", None)):
            item.add_marker(pytest.mark.property)


def pytest_report_header(config):
    return f"hypothesis profile: {settings.get_current_profile_name()}"
