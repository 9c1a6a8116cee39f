"""Published checkpoint series on the Hugging Face Hub as replay checkpoints.

Pythia publishes its training run as branches of one repository (`step1000`, ...), OLMo as
`step1000-tokens4B` or `stage1-step1000-tokens5B`, MultiBERTs as repositories named `..._step_20k`. A
revision's step is read from its name; a range (`step1000..step20000`, or `1000..20000..5000` to keep
revisions at least 5000 steps apart) is chosen among the repository's branches, listed by the hub or,
offline (HF_HUB_OFFLINE=1), by the local cache. Every revision asked for is checked before any model
is loaded, so a typo fails at once, not after an hour of downloads.
"""

import re
from typing import NamedTuple

_STEP = re.compile(r"(?:^|[-_/])step[-_]?([0-9]+)(k?)(?=$|[-_])", re.IGNORECASE)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class Revision(NamedTuple):
    step: int
    name: str


def looks_like_repo_id(text):
    """`ORG/NAME` as the hub spells a repository (a local path of that shape is tested first by callers)."""
    return bool(_REPO_ID.match(text))


def step_of(name):
    """The training step a revision or repository name holds (`step1000` -> 1000, `step_20k` -> 20000),
    or None when it names none (or two)."""
    found = _STEP.findall(name)
    if len(found) != 1:
        return None
    digits, thousands = found[0]
    return int(digits) * (1000 if thousands else 1)


def _explicit(item):
    """`NAME` or `NAME:STEP` -> Revision; the step from the name unless given."""
    name, colon, step = item.rpartition(":") if ":" in item else (item, "", "")
    if colon:
        if not step.isdigit():
            raise ValueError(f"revision {item!r}: the step after ':' must be a non-negative integer")
        return Revision(int(step), name)
    found = step_of(name)
    if found is None:
        raise ValueError(
            f"revision {item!r} names no training step (like step1000 or step_20k): give it as {item}:STEP"
        )
    return Revision(found, name)


def _bound(text, spec):
    if text.isdigit():
        return int(text)
    found = step_of(text)
    if found is None:
        raise ValueError(f"{spec!r}: {text!r} is neither a step nor a revision naming one (like step1000)")
    return found


def _parse_range(spec):
    """`FROM..TO` or `FROM..TO..EVERY` -> (first step, last step, least gap)."""
    parts = spec.split("..")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{spec!r}: a range is FROM..TO or FROM..TO..EVERY (e.g. step1000..step20000..5000)")
    first, last = _bound(parts[0], spec), _bound(parts[1], spec)
    every = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
    if len(parts) == 3 and not every:
        raise ValueError(f"{spec!r}: EVERY (after the second '..') must be a positive number of steps")
    if last < first:
        raise ValueError(f"{spec!r}: the range ends before it starts")
    return first, last, every or 1


def listed_revisions(repo_id):
    """The branch names of `repo_id`: from the hub, or from the local cache when offline."""
    import huggingface_hub

    if huggingface_hub.is_offline_mode():
        _, repo = _cached(repo_id)
        if repo is not None:
            return sorted({ref for revision in repo.revisions for ref in revision.refs})
        raise ValueError(
            f"{repo_id} is not in the local hub cache ({huggingface_hub.constants.HF_HUB_CACHE}) and the hub is "
            f"offline (HF_HUB_OFFLINE=1): download its revisions first, or unset HF_HUB_OFFLINE"
        )
    refs = huggingface_hub.list_repo_refs(repo_id)
    return sorted({ref.name for ref in refs.branches} | {ref.name for ref in refs.tags})


def _cached(repo_id, cache_dir=None):
    """-> (the cache's scan, `repo_id`'s entry in it or None)."""
    import huggingface_hub

    try:
        scan = huggingface_hub.scan_cache_dir(cache_dir)
    except huggingface_hub.CacheNotFound:
        return None, None
    found = [repo for repo in scan.repos if repo.repo_id == repo_id and repo.repo_type == "model"]
    return scan, (found[0] if found else None)


def cached_commits(repo_id, cache_dir=None):
    """The commits of `repo_id` the local cache holds now (what a replay must leave there)."""
    _, repo = _cached(repo_id, cache_dir)
    return frozenset(revision.commit_hash for revision in repo.revisions) if repo is not None else frozenset()


def delete_downloaded(repo_id, kept, cache_dir=None):
    """Delete from the cache the revisions of `repo_id` whose commits are not in `kept` (those the
    replay downloaded), with huggingface_hub's own strategy (blobs another revision uses stay)."""
    scan, repo = _cached(repo_id, cache_dir)
    new = [revision.commit_hash for revision in repo.revisions if revision.commit_hash not in kept] if repo else []
    if new:
        scan.delete_revisions(*new).execute()


def check_hub_revision(repo_id, revision):
    """Offline, the revision must be in the local cache; online, the download says what is missing."""
    if _offline() and revision not in listed_revisions(repo_id) and not _COMMIT.match(revision):
        raise ValueError(f"{repo_id} has no revision {revision!r} in the local cache and the hub is offline")


def _in_range(listed, spec):
    first, last, every = _parse_range(spec)
    chosen, kept = [], None
    for revision in sorted(Revision(step, name) for name in listed if (step := step_of(name)) is not None):
        if first <= revision.step <= last and (kept is None or revision.step >= kept + every):
            chosen.append(revision)
            kept = revision.step
    return chosen


def choose_revisions(repo_id, specs):
    """`specs` (revision names, `NAME:STEP`, ranges, or one comma-separated string of them) ->
    [Revision] in step order, each checked against the repository's branches."""
    items = [item.strip() for spec in ([specs] if isinstance(specs, str) else specs) for item in spec.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ValueError("no revisions given: name them (step1000,step2000) or give a range (step1000..step20000)")
    listed = listed_revisions(repo_id)
    where = "in the local cache" if _offline() else "on the hub"
    chosen = []
    for item in items:
        if ".." in item:
            found = _in_range(listed, item)
            if not found:
                raise ValueError(f"{repo_id} has no revision in {item!r} {where}; it has {_sample(listed)}")
            chosen += found
            continue
        revision = _explicit(item)
        if revision.name not in listed and not _COMMIT.match(revision.name):
            raise ValueError(f"{repo_id} has no revision {revision.name!r} {where}; it has {_sample(listed)}")
        chosen.append(revision)
    return _distinct_steps(sorted(set(chosen)))


def _distinct_steps(revisions):
    by_step = {}
    for revision in revisions:
        by_step.setdefault(revision.step, []).append(revision.name)
    clashes = {step: names for step, names in by_step.items() if len(names) > 1}
    if clashes:
        step, names = next(iter(clashes.items()))
        raise ValueError(f"revisions {names} all hold step {step}: choose one, or give each its own step as NAME:STEP")
    return revisions


def _offline():
    import huggingface_hub

    return huggingface_hub.is_offline_mode()


def _sample(names, shown=8):
    if not names:
        return "none"
    names = sorted(names, key=lambda name: (step_of(name) is None, step_of(name) or 0, name))
    head = ", ".join(names[:shown])
    return head + (f", ... ({len(names)} in all)" if len(names) > shown else "")
