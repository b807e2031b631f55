"""The release this copy of peprkit belongs to, defined once.

``pyproject.toml`` reads :data:`__version__` from here (``dynamic = ["version"]``), the
command line prints it (``peprkit --version``), and the course authoring tools build the
"Open in Colab" links and the Colab install line from :data:`REPO_URL` and
:data:`RELEASE_TAG`. To cut a release, change :data:`__version__` and nothing else.

>>> RELEASE_TAG == "v" + __version__
True
>>> CONSTRAINTS_URL.endswith(f"/{RELEASE_TAG}/peprkit/_colab_constraints.txt")
True
"""

from __future__ import annotations

#: Version of the package (PEP 440).
__version__ = "0.1.0"
#: Public repository of the kit (Colab badges, the Colab install line, bundle wheels).
REPO_URL = "https://github.com/peprkit/peprkit"
#: Git tag of this release; the course notebooks and their Colab install are pinned to it.
RELEASE_TAG = f"v{__version__}"
#: The versions of the ``train`` extra this release is tested with (a pip constraints file;
#: never torch or other packages Colab brings): a file in the repository and package data
#: of the wheel (``importlib.resources.files("peprkit") / "_colab_constraints.txt"``).
CONSTRAINTS_FILE = "peprkit/_colab_constraints.txt"


def raw_url(path: str, repo_url: str = REPO_URL, tag: str = RELEASE_TAG) -> str:
    """The address of file ``path`` of the repository at ``tag``, as GitHub serves it raw.

    >>> raw_url("README.md", "https://github.com/someone/fork", "v9.9.9")
    'https://raw.githubusercontent.com/someone/fork/v9.9.9/README.md'
    """
    repo = repo_url.removeprefix("https://github.com/")
    return f"https://raw.githubusercontent.com/{repo}/{tag}/{path}"


#: The constraints at the release tag, which the Colab setup cell passes to ``pip -c``.
CONSTRAINTS_URL = raw_url(CONSTRAINTS_FILE)
