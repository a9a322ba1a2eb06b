"""What both PyInstaller specs share; the specs `exec` nothing else of ours, so this file stays import-free.

The specs run inside PyInstaller (`pyinstaller packaging/echeck-agent.spec`), with the repository on
`pathex`. packaging/build.py passes the build's facts in the environment:
ECHECK_BUILD_METADATA: a directory holding `echeck-<version>.dist-info`, the package's metadata (name,
version) that `agent.__version__` reads back with importlib.metadata in the frozen program.
"""

import os
from pathlib import Path

ROOT = Path(os.environ.get("ECHECK_BUILD_ROOT", Path.cwd())).resolve()

# Never in either program: our other packages, test tooling, GUI toolkits we do not use.
EXCLUDES = [
    "cloud",
    "demo",
    "fakes",
    "tests",
    "benchmarks",
    "tkinter",
    "_tkinter",
    "pytest",
    "_pytest",
    "hypothesis",
    "schemathesis",
    "playwright",
    "mypy",
    "IPython",
    "matplotlib",
    "numpy",
    "PIL",
    "alembic",
    "psycopg",
    "psycopg_binary",
    "argon2",
    "aiosmtpd",
    # PyInstaller's setuptools runtime hook imports setuptools at every start when it is bundled (+5 MB
    # resident); nothing of ours needs it, nor distutils.
    "setuptools",
    "pkg_resources",
    "distutils",
    "_distutils_hack",
    "greenlet",  # SQLAlchemy's asyncio extension; the outbox is synchronous
    "readline",
    # httpx's own command line (the agent never runs it; agent.cli keeps it out at run time too) and what
    # only it pulls in.
    "httpx._main",
    "rich",
    "pygments",
    "markdown_it",
]


def metadata_datas() -> list[tuple[str, str]]:
    """The stamped `echeck-<version>.dist-info` (see packaging/build.py), beside the program's modules."""
    base = Path(os.environ["ECHECK_BUILD_METADATA"])
    (info,) = base.glob("echeck-*.dist-info")
    return [(str(info), info.name)]
