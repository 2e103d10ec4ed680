"""mkdocs hooks for the docs build (mkdocs.yml `hooks:`).

fanin/__init__.py builds ``__all__`` from the registry at import time
(``*registry.CLASSES``); griffe reads source statically and warns that it cannot
expand it, which ``mkdocs build --strict`` would turn into a failure. The API pages
document the classes from their defining modules, so that one message is dropped;
every other warning still fails the build.
"""

import logging

_BENIGN = "Unsupported item in fanin.__all__"


def _keep(record: logging.LogRecord) -> bool:
    return _BENIGN not in record.getMessage()


for _name in ("griffe", "mkdocs.plugins.griffe", "mkdocs.plugins.mkdocstrings_handlers"):
    logging.getLogger(_name).addFilter(_keep)
