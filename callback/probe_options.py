"""The probe options every entry point takes, in one object checked once, when it is made.

The Trainer callback, the Lightning callback, AttentionRecorder and replay build a `ProbeOptions` from
their keyword arguments (the same six: names, max_tokens, induction_probe, relations, predictions,
neurons) and hand it to `ProbeRunner`, so bad options fail the same way, with the same message,
wherever they are given, and before any training.
"""

from dataclasses import dataclass, field

from .capture.neurons import check_neurons
from .capture.predictions import check_top_k
from .probes.relation_sets import relation_probes
from .probes.sentences import DEFAULT_MAX_TOKENS, validate_probes
from .storage_plan import check_heads, parse_budget
from tb_attention_plugin.tools.trackers import check_every, check_trackers


def check_options(max_tokens, induction):
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
        raise ValueError(f"max_tokens must be an integer >= 2, got {max_tokens!r}")
    if induction not in (None, True, False):
        raise TypeError("induction_probe must be True, False or None (automatic)")


@dataclass(frozen=True)
class ProbeOptions:
    """The probes and the probe options, as given; checked in the constructor.

    probes: strings, (text, text_pair) tuples or relation probes (sentences.validate_probes).
    names, max_tokens, induction_probe: the probes' names, their token limit, the built-in induction
        probe (None: for causal models only).
    relations: "english" or a JSON / JSONL file of relation probes (relation_sets.py), added to `probes`.
    predictions: True or a top-k: store what the model predicts on the probes (predictions.py).
    neurons: True or {"heads", "every"}: the query and key vectors of the neuron view (neurons.py).
    attention_budget, attention_heads: what a run may store of its maps, and which heads keep theirs
        when not all fit (storage_plan.py).
    trackers, trackers_every: the W&B / MLflow runs the report goes to, and every how many snapshots.

    What the checks make of them: `specs` ([(name, text, pair, relations, masked)] of every probe,
    the relation probes included), `top_k` (0: no predictions), `neuron_options` (NeuronOptions
    or None), `budget` (bytes), `heads` (checked attention_heads), `tracker_names` and `tracker_every`
    (checked trackers= and trackers_every=: tools/trackers.py).
    """

    probes: object
    names: object = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    induction_probe: object = None
    relations: object = None
    predictions: object = None
    neurons: object = None
    attention_budget: object = None
    attention_heads: object = "changed"
    trackers: object = None
    trackers_every: object = None
    specs: tuple = field(init=False, repr=False, compare=False)
    top_k: int = field(init=False, repr=False, compare=False)
    neuron_options: object = field(init=False, repr=False, compare=False)
    budget: int = field(init=False, repr=False, compare=False)
    heads: object = field(init=False, repr=False, compare=False)
    tracker_names: tuple = field(init=False, repr=False, compare=False)
    tracker_every: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        check_options(self.max_tokens, self.induction_probe)
        top_k = check_top_k(self.predictions)
        neuron_options = check_neurons(self.neurons)
        probes, names = self.probes, self.names
        if self.relations is not None:
            extra = relation_probes(self.relations)
            if isinstance(probes, (list, tuple)):
                names = None if names is None else list(names) + [p.get("name") for p in extra]
                probes = list(probes) + extra
        specs = validate_probes(probes, names)
        object.__setattr__(self, "specs", tuple(specs))
        object.__setattr__(self, "top_k", top_k)
        object.__setattr__(self, "neuron_options", neuron_options)
        object.__setattr__(self, "budget", parse_budget(self.attention_budget))
        object.__setattr__(self, "heads", check_heads(self.attention_heads))
        object.__setattr__(self, "tracker_names", check_trackers(self.trackers))
        object.__setattr__(self, "tracker_every", check_every(self.trackers_every))
