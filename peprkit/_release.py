"""The release this copy of peprkit belongs to, defined once.

``pyproject.toml`` reads :data:`__version__` from here (``dynamic = ["version"]``), the
command line prints it (``peprkit --version``), and the course authoring tools build the
"Open in Colab" links and the Colab install line from :data:`REPO_URL` and
:data:`RELEASE_TAG`. To cut a release, change :data:`__version__` and nothing else.

>>> RELEASE_TAG == "v" + __version__
True
"""

from __future__ import annotations

#: Version of the package (PEP 440).
__version__ = "0.1.0"
#: Public repository of the kit (Colab badges, the Colab install line, bundle wheels).
REPO_URL = "https://github.com/peprkit/peprkit"
#: Git tag of this release; the course notebooks and their Colab install are pinned to it.
RELEASE_TAG = f"v{__version__}"
