"""Reading the files people edit (config, mapping files, source specs) and saying what is wrong in one voice.

Every problem is a `FileIssue` rendered `file: key: problem — fix`; every reader reports all of a file's
problems at once. This package imports nothing of ours, so the worker, the mappings and the connectors
all can use it.
"""

from configfiles.issues import FileIssue, FileProblems
from configfiles.toml import read_toml
from configfiles.translate import did_you_mean, item_label, keyed_issue, pydantic_issues

__all__ = [
    "FileIssue",
    "FileProblems",
    "did_you_mean",
    "item_label",
    "keyed_issue",
    "pydantic_issues",
    "read_toml",
]
