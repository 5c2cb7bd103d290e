"""The clients (client/, catalogue/) stand on the HTTP API: from the server's side they
import only schemas and the vocabulary, never the engines, the database or the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_architecture import PACKAGE, imported, name_of

CLIENT_MODULES = sorted([*PACKAGE.glob("client/*.py"), *PACKAGE.glob("catalogue/*.py")])
ALLOWED = ("pixsearch.client", "pixsearch.catalogue", "pixsearch.vocabulary")
SCHEMAS = ("pixsearch.images.schemas", "pixsearch.operations.schemas", "pixsearch.search.schemas")


@pytest.mark.parametrize("path", CLIENT_MODULES, ids=name_of)
def test_clients_import_only_schemas_and_vocabulary(path: Path) -> None:
    modules = {name for name in imported(path) if name != "pixsearch"}
    server = {
        name
        for name in modules
        if not name.startswith(ALLOWED + SCHEMAS) and name != "pixsearch.__version__"
    }
    assert server == set()


def test_the_client_loads_no_database_layer() -> None:
    import subprocess
    import sys

    probe = "import sys, pixsearch.client; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
