"""Where deployments keep their files: ``<home>/deployments/<name>/``, one folder per name.

A deployment's name becomes a folder (and, for Kubernetes, resource names), so it follows
the project's name rule and is checked before anything is written; every path is checked
to stay inside the deployments folder.
"""

from __future__ import annotations

import os
import re

from conveyor._internal.names import name_problem
from conveyor.errors import InvalidNameError

__all__ = ["DEPLOYMENTS_DIR", "check_name", "deployment_dir", "deployments_root", "inside"]

DEPLOYMENTS_DIR = "deployments"
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def check_name(name: str, *, kubernetes: bool = False) -> str:
    """``name`` when it can name a deployment (and Kubernetes resources: a DNS label that
    starts with a letter, at most 63 characters).

    Raises:
        InvalidNameError: it cannot, saying why and what to use.

    Example:
        >>> check_name("census-prod", kubernetes=True)
        'census-prod'
    """
    problem = name_problem("deployment name", name)
    if problem is not None:
        raise InvalidNameError(f"{problem}. Give another with --name")
    if kubernetes and (len(name) > 63 or not _DNS_LABEL.fullmatch(name)):
        raise InvalidNameError(
            f"deployment name {name!r} cannot name Kubernetes resources: use lower-case "
            "letters, digits and '-', starting with a letter and ending with a letter or "
            "digit, at most 63 characters (e.g. --name "
            f"{_suggest(name)!r})"
        )
    return name


def _suggest(name: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    text = text if text[:1].isalpha() else f"m-{text}"
    return text[:63].rstrip("-") or "model"


def deployments_root(home: str) -> str:
    """The folder holding every deployment of the project whose state folder is ``home``."""
    return os.path.join(os.path.abspath(home), DEPLOYMENTS_DIR)


def inside(root: str, path: str) -> str:
    """``path`` made absolute, refused unless it is ``root`` or inside it (symbolic links
    resolved).

    Raises:
        InvalidNameError: it leads outside ``root``.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise InvalidNameError(f"{path!r} leads outside {root!r}; refusing to write there")
    return real


def deployment_dir(home: str, name: str) -> str:
    """The folder of deployment ``name`` (not created).

    Raises:
        InvalidNameError: ``name`` breaks the name rule, or its folder leads elsewhere.
    """
    root = deployments_root(home)
    return inside(root, os.path.join(root, check_name(name)))
