"""A Hugging Face hub cache laid out on disk exactly as huggingface_hub lays out what it downloads, so
replay's hub revisions are tested offline (HF_HUB_OFFLINE=1) through the standard loading path:

    CACHE/models--ORG--NAME/blobs/<file hash>                 the files' contents, once each
    CACHE/models--ORG--NAME/snapshots/<commit>/<file>         -> ../../blobs/<file hash> (relative links)
    CACHE/models--ORG--NAME/refs/<revision>                   the commit hash a branch points to
"""

import hashlib
import os


def add_revision(cache, repo_id, revision, folder):
    """Put the files of `folder` (a save_pretrained directory) into `cache` as `repo_id`'s branch
    `revision`; -> the commit hash it gets."""
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    for root, _, files in os.walk(folder):
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), folder)
            with open(os.path.join(root, name), "rb") as f:
                content = f.read()
            blob = hashlib.sha256(content).hexdigest()
            os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
            with open(os.path.join(repo, "blobs", blob), "wb") as f:
                f.write(content)
            link = os.path.join(repo, "snapshots", commit, relative)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.relpath(os.path.join(repo, "blobs", blob), os.path.dirname(link)), link)
    point(cache, repo_id, revision, commit)
    return commit


def point(cache, repo_id, revision, commit):
    """Make branch `revision` of `repo_id` point at `commit` (as a later download of it would)."""
    ref = os.path.join(cache, "models--" + repo_id.replace("/", "--"), "refs", revision)
    os.makedirs(os.path.dirname(ref), exist_ok=True)
    with open(ref, "w") as f:
        f.write(commit)
