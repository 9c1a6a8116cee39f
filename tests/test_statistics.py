"""Per-head statistics on hand-made attention matrices, head types, and the built-in induction probe."""

import math

import numpy as np
import pytest

from tb_attention_plugin.format.metadata import STAT_NAMES
from tb_attention_plugin.analysis.head_types import HEAD_TYPES, classify_heads
from tb_attention_plugin.analysis.statistics import head_statistics, js_distance, row_plogp, zero_above_diagonal

BERT_TOKENS = ["[CLS]", "a", "b", "[SEP]"]
BERT_SPECIAL = [True, False, False, True]


def stats_of(heads, tokens, special, *, causal, self_attention=True, reference=None, key_tokens=None):
    """heads: list of [Q, K] matrices (one layer) -> {stat: [values per head]}."""
    a = np.stack(heads)[None].astype(np.float32)
    ref = None if reference is None else np.stack(reference)[None].astype(np.float32)
    out = head_statistics(
        a,
        causal=causal,
        self_attention=self_attention,
        query_tokens=tokens,
        key_tokens=key_tokens or tokens,
        key_special=special,
        reference=ref,
    )
    assert out.shape == (len(STAT_NAMES), 1, len(heads)) and out.dtype == np.float32
    return {name: out[i, 0] for i, name in enumerate(STAT_NAMES)}


def check(stats, expected, head):
    for name, value in expected.items():
        got = stats[name][head]
        if value is None:
            assert math.isnan(got), f"{name} of head {head} should be NaN, got {got}"
        else:
            assert got == pytest.approx(value, abs=1e-6), f"{name} of head {head}: {got} != {value}"


def test_bidirectional_heads_exact_values():
    uniform = np.full((4, 4), 0.25)
    identity = np.eye(4)
    prev = np.eye(4, k=-1)
    prev[0, 0] = 1  # row 0 has no previous token: it looks at itself
    half = np.array(
        [
            [0.5, 0.5, 0, 0],  # entropy ln2 / ln4 = 0.5
            [0, 0.5, 0.5, 0],
            [0, 0, 0.5, 0.5],
            [0.5, 0, 0, 0.5],
        ]
    )
    s = stats_of([uniform, identity, prev, half], BERT_TOKENS, BERT_SPECIAL, causal=False)
    check(
        s,
        dict(
            entropy=1.0,
            first=0.25,
            sep=0.25,
            self=0.25,
            prev=0.25,
            next=0.25,
            max=0.25,
            drift=0.0,
            induction=None,
            duplicate=None,
            self_repeated=None,
        ),
        0,
    )
    check(s, dict(entropy=0.0, first=0.25, sep=0.25, self=1.0, prev=0.0, next=0.0, max=1.0), 1)
    check(s, dict(entropy=0.0, first=0.5, sep=0.0, self=0.25, prev=1.0, next=0.0, max=1.0), 2)
    # prev over rows 1..3: A10=0, A21=0, A32=0; next over rows 0..2: 0.5 each; sep: key 3 only
    check(s, dict(entropy=0.5, first=0.25, sep=0.25, self=0.5, prev=0.0, next=0.5, max=0.5), 3)


def test_causal_heads_leave_out_the_first_row_and_normalize_by_visible_keys():
    tokens = ["<s>", "x", "y", "x", "y"]
    special = [True, False, False, False, False]
    n = len(tokens)
    uniform = np.tril(np.ones((n, n)))
    uniform /= uniform.sum(axis=1, keepdims=True)
    induction = np.zeros((n, n))
    induction[[0, 1, 2], 0] = 1
    induction[3, 2] = 1  # x at 3: its earlier copy is at 1, the token after it at 2
    induction[4, 3] = 1  # y at 4: earlier copy at 2, next token at 3
    two_keys = np.zeros((n, n))  # row i spreads evenly over keys 0 and i
    two_keys[0, 0] = 1
    for i in range(1, n):
        two_keys[i, [0, i]] = 0.5
    s = stats_of([uniform, induction, two_keys], tokens, special, causal=True)
    mean_inv = np.mean([1 / 2, 1 / 3, 1 / 4, 1 / 5])  # rows 1..4
    check(
        s,
        dict(
            entropy=1.0,
            first=mean_inv,
            self=mean_inv,
            prev=mean_inv,
            next=0.0,
            max=mean_inv,
            sep=None,
            duplicate=(1 / 4 + 1 / 5) / 2,
            induction=(1 / 4 + 1 / 5) / 2,
            self_repeated=(1 / 4 + 1 / 5) / 2,  # rows 3 and 4: their tokens came before
        ),
        0,
    )
    check(s, dict(self_repeated=0.0, induction=1.0, duplicate=0.0, max=1.0), 1)
    check(s, dict(entropy=0.0, first=0.5, prev=0.75, self=0.0, induction=1.0, duplicate=0.0, max=1.0), 1)
    # entropy of row i: ln 2 / ln(i + 1)
    entropy = np.mean([math.log(2) / math.log(i + 1) for i in range(1, n)])
    check(s, dict(entropy=entropy, first=0.5, self=0.5, prev=0.125, max=0.5, duplicate=0.0, induction=0.0), 2)
    check(s, dict(self_repeated=0.5), 2)


def test_not_applicable_statistics_are_nan():
    # cross attention: no self/prev/next/induction/duplicate; one key: no entropy
    dec = ["<s>", "a", "a"]
    cross = np.full((3, 2), 0.5)
    s = stats_of([cross], dec, [True, False], causal=False, self_attention=False, key_tokens=["a", "</s>"])
    check(
        s,
        dict(self=None, prev=None, next=None, induction=None, duplicate=None, first=0.5, sep=None, max=0.5, entropy=1.0)
        | {"self_repeated": None},
        0,
    )
    s = stats_of([np.ones((1, 1))], ["x"], [False], causal=False)
    check(s, dict(entropy=None, prev=None, next=None, first=1.0, self=1.0, max=1.0), 0)


def test_drift_is_the_js_distance_to_the_first_snapshot():
    identity = np.eye(4)
    shifted = np.roll(np.eye(4), 1, axis=1)  # every row moved to another key
    half = np.tile([0.5, 0.5, 0.0, 0.0], (4, 1))
    one = np.tile([1.0, 0.0, 0.0, 0.0], (4, 1))
    s = stats_of(
        [identity, shifted, half], BERT_TOKENS, BERT_SPECIAL, causal=False, reference=[identity, identity, one]
    )
    assert s["drift"][0] == pytest.approx(0.0, abs=1e-4)
    assert s["drift"][1] == pytest.approx(1.0, abs=1e-3)  # disjoint rows: the largest distance
    # JS([.5, .5] || [1, 0]) with m = [.75, .25], in bits
    js = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * math.log2(1 / 0.75)
    assert s["drift"][2] == pytest.approx(math.sqrt(js), abs=1e-4)
    assert js_distance(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == pytest.approx(0.0, abs=1e-6)


def test_statistics_are_means_over_layers_and_heads_independently():
    rng = np.random.default_rng(0)
    a = rng.random((3, 2, 6, 6))
    a /= a.sum(axis=-1, keepdims=True)
    tokens = ["[CLS]", "p", "q", "p", "r", "[SEP]"]
    special = [True, False, False, False, False, True]
    out = head_statistics(
        a, causal=False, self_attention=True, query_tokens=tokens, key_tokens=tokens, key_special=special
    )
    for layer in range(3):
        for head in range(2):
            one = head_statistics(
                a[layer : layer + 1, head : head + 1],
                causal=False,
                self_attention=True,
                query_tokens=tokens,
                key_tokens=tokens,
                key_special=special,
            )
            np.testing.assert_allclose(out[:, layer, head], one[:, 0, 0], rtol=1e-6, atol=1e-7)
    h = a[1, 1]
    assert out[STAT_NAMES.index("first"), 1, 1] == pytest.approx(h[:, 0].mean(), rel=1e-5)
    assert out[STAT_NAMES.index("sep"), 1, 1] == pytest.approx(h[:, 5].mean(), rel=1e-5)
    assert out[STAT_NAMES.index("duplicate"), 1, 1] == pytest.approx(h[3, 1], rel=1e-5)  # one repeat
    assert out[STAT_NAMES.index("induction"), 1, 1] == pytest.approx(h[3, 2], rel=1e-5)


# ---------------------------------------------------------------- head types


def test_classify_heads_types_scores_and_formed_step():
    steps = [0, 10, 20, 30]
    prev = np.zeros((4, 2, 2))
    prev[:, 0, 0] = [0.1, 0.6, 0.3, 0.7]  # over the line at the last snapshot only: not formed (noise)
    prev[:, 0, 1] = [0.6, 0.6, 0.6, 0.6]  # formed at the first snapshot
    prev[:, 1, 0] = [0.9, 0.9, 0.9, 0.2]  # lost the type: not listed
    prev[:, 1, 1] = [0.2, 0.5, 0.5, 0.5]  # the threshold itself counts
    induction = np.full((4, 2, 2), np.nan)  # NaN never has a type
    entropy = np.zeros((4, 2, 2))
    entropy[:, 0, 1] = [0.9, 0.9, 0.9, 0.95]  # broad and previous-token at once
    result = classify_heads(steps, {"prev": prev, "induction": induction, "entropy": entropy})
    got = {(r["layer"], r["head"], r["type"]): (r["formed_step"], r["score"]) for r in result}
    assert got == {
        (0, 1, "previous-token"): (0, pytest.approx(0.6)),
        (0, 1, "broad"): (0, pytest.approx(0.95)),
        (1, 1, "previous-token"): (10, pytest.approx(0.5)),
    }
    assert [(r["layer"], r["head"]) for r in result] == sorted((r["layer"], r["head"]) for r in result)
    # a type formed only once it held at the last FORMED_SNAPSHOTS (3) snapshots; the run is broken at 20
    prev[:, 0, 0] = [0.1, 0.6, 0.3, 0.7]
    late = classify_heads(steps + [40, 50], {"prev": np.concatenate([prev, prev[-1:], prev[-1:]])})
    assert {(r["layer"], r["head"]): r["formed_step"] for r in late}[(0, 0)] == 30
    assert classify_heads(steps[:2], {"prev": prev[:2]})[0]["formed_step"] == 0  # a 2-snapshot run: both
    assert classify_heads([], {"prev": prev[:0]}) == []
    assert HEAD_TYPES["induction"] == ("induction", 0.4)


def test_a_head_is_typed_where_its_pattern_applies_not_where_it_rests():
    tokens = ["<s>", "e", "f", "g", "a", "b", "c", "d", "a", "b", "c", "d"]
    n = len(tokens)
    resting_induction = np.zeros((n, n))  # its own token while nothing repeats, then the token after the copy
    for i in range(n):
        resting_induction[i, i - 3 if i >= 8 else i] = 1.0
    self_head = np.eye(n)
    stats = stats_of([resting_induction, self_head], tokens, [True] + [False] * (n - 1), causal=True)
    assert stats["self"][0] == pytest.approx(7 / 11) and stats["self_repeated"][0] == 0.0
    assert stats["induction"][0] == 1.0 and stats["self_repeated"][1] == 1.0
    over_time = {name: np.repeat(values[None, None], 3, axis=0) for name, values in stats.items()}
    types = {(r["head"], r["type"]) for r in classify_heads([0, 1, 2], over_time)}
    assert types == {(0, "induction"), (1, "self")}
    del over_time["self_repeated"]  # a log written before the statistic existed: the plain rule
    assert (0, "self") in {(r["head"], r["type"]) for r in classify_heads([0, 1, 2], over_time)}


# ---------------------------------------------------------------- built-in induction probe


def _big_tokenizer(size=3000):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(size)}
    vocab["<s>"] = size
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", unk_token="w0")


def _segments(ids):
    """(start, length) of every block that is immediately repeated, found from the ids alone."""
    found, i = [], 0
    while i < len(ids):
        for length in range(len(ids) // 2, 0, -1):
            if ids[i : i + length] == ids[i + length : i + 2 * length]:
                found.append((i, length))
                i += 2 * length
                break
        else:
            i += 1
    return found


def _induction_score(probe, head):
    n = len(probe.tokens)
    s = head_statistics(
        head[None, None].astype(np.float32),
        causal=True,
        self_attention=True,
        query_tokens=probe.tokens,
        key_tokens=probe.tokens,
        key_special=probe.special,
    )
    return float(s[STAT_NAMES.index("induction"), 0, 0]), n


@pytest.mark.parametrize("tokenizer_kind", ["tiny", "big"])
def test_induction_probe_layout(tokenizer_kind):
    from tb_attention_plugin.callback.probes.sentences import induction_probe
    from tiny_models import word_tokenizer

    tok = word_tokenizer("gpt2") if tokenizer_kind == "tiny" else _big_tokenizer()
    for seed in range(10):
        p = induction_probe(tok, 128, seed=seed)
        ids = p.input_ids
        assert ids[0] == tok.bos_token_id and len(ids) <= 128 and len(p.tokens) == len(ids)
        segments = _segments(ids[1:])
        lengths = [length for _, length in segments]
        assert len(segments) >= 3 and len(set(lengths)) == len(lengths), lengths
        assert max(lengths) / sum(lengths) < 0.4
        # every token is distinct, except the second copy of each segment
        repeated = {ids[1 + s + k] for s, length in segments for k in range(length)}
        counts = {i: ids.count(i) for i in ids}
        assert all(c == (2 if i in repeated else 1) for i, c in counts.items())
        assert not any(i in tok.all_special_ids for i in ids[1:])


@pytest.mark.parametrize("seed", range(8))
def test_fixed_distance_heads_do_not_score_as_induction_but_induction_heads_do(seed):
    from tb_attention_plugin.callback.probes.sentences import induction_probe
    from tiny_models import word_tokenizer

    p = induction_probe(word_tokenizer("gpt2"), 128, seed=seed)
    n = len(p.input_ids)
    for d in range(1, n):
        head = np.zeros((n, n))
        for i in range(n):
            head[i, i - d if i >= d else 0] = 1
        score, _ = _induction_score(p, head)
        assert score < 0.4, f"a head looking back {d} tokens scores {score} as induction"
    head = np.zeros((n, n))
    first_seen = {}
    for i, t in enumerate(p.input_ids):
        if t in first_seen:
            head[i, first_seen[t] + 1] = 1
        else:
            head[i, 0] = 1
            first_seen[t] = i
    score, _ = _induction_score(p, head)
    assert score == pytest.approx(1.0, abs=1e-6)


def test_induction_probe_is_deterministic_and_reports_a_too_small_budget():
    from tb_attention_plugin.callback.probes.sentences import induction_probe
    from tiny_models import word_tokenizer

    tok = word_tokenizer("gpt2")
    assert induction_probe(tok, 128).input_ids == induction_probe(tok, 128).input_ids
    assert induction_probe(tok, 128, seed=1).input_ids != induction_probe(tok, 128).input_ids
    assert len(induction_probe(tok, 40).input_ids) <= 40
    with pytest.raises(ValueError, match="induction_probe=False"):
        induction_probe(tok, 16)


def test_head_distances_by_hand():
    from tb_attention_plugin.analysis.statistics import head_distances

    q = 3
    same = np.full((q, q), 1.0 / q)
    sharp = np.eye(q)
    a = np.stack([same, same, sharp])[None]  # one layer: heads 0 and 1 alike, head 2 apart
    d = head_distances(a, causal=False)
    assert d.shape == (1, 3, 3)
    assert d[0, 0, 1] == pytest.approx(0.0, abs=1e-3) and np.all(np.diag(d[0]) == 0)
    # JS distance (base 2) between uniform over 3 and a one-hot: sqrt(H(m) - (log2 3)/2), m = (2/3, 1/6, 1/6)
    h_m = -(2 / 3 * np.log2(2 / 3) + 2 * (1 / 6) * np.log2(1 / 6))
    assert d[0, 0, 2] == pytest.approx(np.sqrt(h_m - 0.5 * np.log2(3)), abs=2e-3)
    np.testing.assert_allclose(d[0], d[0].T, atol=1e-6)
    first_row_only = a.copy()
    first_row_only[0, 2, 0] = same[0]  # differs from head 0 on row 0 only
    causal = head_distances(first_row_only, causal=True)  # the causal first row is left out
    assert causal[0, 0, 2] == pytest.approx(d[0, 0, 2], abs=2e-3)


# ---------------------------------------------------------------- the fast path against the definitions
def _by_definition(a, reference, *, causal, self_attention, query_tokens, key_tokens, key_special):
    """The statistics of docs/format.md written out densely, one head at a time (float64)."""
    q, k = len(query_tokens), len(key_tokens)
    rows = np.ones(q, bool)
    if causal and q > 1:
        rows[0] = False
    visible = np.minimum(np.arange(q) + 1, k) if causal else np.full(q, k)
    sets = {"first": np.zeros((q, k), bool)}
    sets["first"][:, 0] = True
    seps = np.array(key_special, bool)
    seps[0] = False
    sets["sep"] = np.tile(seps, (q, 1))
    if self_attention:
        for name, off in (("self", 0), ("prev", -1), ("next", 1)):
            sets[name] = np.eye(q, k, off, dtype=bool)
        for name, shift in (("induction", 1), ("duplicate", 0)):
            m = np.zeros((q, k), bool)
            for i in range(q):
                for j in range(k):
                    if j + shift < i and j + shift < k and query_tokens[i] == key_tokens[j]:
                        m[i, j + shift] = True
            sets[name] = m
        sets["self_repeated"] = np.eye(q, k, dtype=bool) & sets["duplicate"].any(axis=1, keepdims=True)
    out = np.full((len(STAT_NAMES),) + a.shape[:2], np.nan)
    for layer, head in np.ndindex(*a.shape[:2]):
        h = a[layer, head].astype(np.float64)
        for name, keys in sets.items():
            chosen = rows & keys.any(axis=1)
            if chosen.any():
                out[STAT_NAMES.index(name), layer, head] = (h * keys).sum(axis=1)[chosen].mean()
        ent_rows = rows & (visible >= 2)
        if ent_rows.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                plogp = np.where(h > 0, h * np.log(h), 0.0).sum(axis=1)
            out[STAT_NAMES.index("entropy"), layer, head] = (-plogp / np.log(np.maximum(visible, 2)))[ent_rows].mean()
        out[STAT_NAMES.index("max"), layer, head] = h.max(axis=1)[rows].mean()
        if reference is None:
            out[STAT_NAMES.index("drift"), layer, head] = 0.0
        else:
            r = reference[layer, head].astype(np.float64)
            m = 0.5 * (h + r)
            with np.errstate(divide="ignore", invalid="ignore"):
                kl_p = np.where(h > 0, h * np.log2(h / m), 0.0).sum(axis=1)
                kl_r = np.where(r > 0, r * np.log2(r / m), 0.0).sum(axis=1)
            js = 0.5 * (kl_p + kl_r)
            out[STAT_NAMES.index("drift"), layer, head] = np.sqrt(np.clip(js, 0, 1))[rows].mean()
    return out


@pytest.mark.parametrize(
    "case", ["causal", "causal with sinks", "says causal but looks ahead", "bidirectional", "cross"]
)
@pytest.mark.parametrize("block", [1 << 19, 1 << 9])  # whole layers at once; a few rows of one head at a time
def test_the_statistics_are_their_definitions(case, block, monkeypatch):
    from tb_attention_plugin.analysis import statistics

    monkeypatch.setattr(statistics, "BLOCK", block)
    rng = np.random.default_rng(len(case))
    q = k = 37
    tokens = ["<s>"] + [f"w{t}" for t in rng.integers(0, 9, q - 1)]  # repeats: induction, duplicate
    key_tokens = tokens
    causal = case.startswith("causal") or case.startswith("says")
    if case == "cross":
        key_tokens = ["<s>"] + [f"w{t}" for t in rng.integers(0, 9, 22)] + ["</s>"]
        k = len(key_tokens)
    special = [t in ("<s>", "</s>") for t in key_tokens]

    def maps():
        x = np.exp(3 * rng.normal(size=(2, 3, q, k)))
        if causal:
            x = np.where(np.tri(q, k, dtype=bool), x, 0.0)
        x /= x.sum(axis=-1, keepdims=True)
        if case == "causal with sinks":
            x *= rng.uniform(0.3, 1.0, size=(2, 3, q, 1))  # rows that sum to less than 1
        if case == "says causal but looks ahead":
            x[1, 2, 5, 30] = 0.01  # a head the chunks must read whole
        return x.astype(np.float32)

    a, first = maps(), maps()
    args = dict(
        causal=causal,
        self_attention=case != "cross",
        query_tokens=tokens,
        key_tokens=key_tokens,
        key_special=special,
    )
    for reference in (None, first, first.astype(np.float16)):
        got = head_statistics(a, reference=reference, **args)
        expected = _by_definition(a, None if reference is None else reference.astype(np.float32), **args)
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6, equal_nan=True)


def test_a_references_kept_term_gives_the_same_drift():
    from tb_attention_plugin.analysis.statistics import row_plogp

    rng = np.random.default_rng(3)
    a, first = (rng.dirichlet(np.ones(9), size=(2, 3, 9)).astype(np.float32) for _ in range(2))
    tokens = [f"w{i}" for i in range(9)]
    args = dict(causal=False, self_attention=True, query_tokens=tokens, key_tokens=tokens, key_special=[False] * 9)
    kept = row_plogp(first)
    np.testing.assert_array_equal(
        head_statistics(a, reference=first, reference_plogp=kept, **args), head_statistics(a, reference=first, **args)
    )
    drift = STAT_NAMES.index("drift")  # and the kept term is the one used
    assert not np.allclose(
        head_statistics(a, reference=first, reference_plogp=kept - 0.1, **args)[drift],
        head_statistics(a, reference=first, **args)[drift],
    )


def _causal_maps(seed, shape):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape) * 2
    logits = np.where(np.tril(np.ones(shape[-2:], bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_drift_against_a_float16_reference_known_to_be_causal_is_the_same():
    """The writer's shortcuts for drift's fixed reference (its p log p kept, its zeros above the diagonal
    checked once, its float16 widened as it is read) change no value."""
    tokens = [f"t{i}" for i in range(40)]
    now, first = _causal_maps(0, (2, 3, 40, 40)), _causal_maps(1, (2, 3, 40, 40)).astype(np.float16)
    args = dict(causal=True, self_attention=True, query_tokens=tokens, key_tokens=tokens, key_special=[False] * 40)
    plain = head_statistics(now, reference=first.astype(np.float32), **args)
    known = row_plogp(first)
    assert zero_above_diagonal(first) and not zero_above_diagonal(first.transpose(0, 1, 3, 2))
    fast = head_statistics(now, reference=first, reference_plogp=known, reference_causal=True, **args)
    np.testing.assert_allclose(fast, plain, rtol=1e-6, atol=1e-7)
    drift = plain[STAT_NAMES.index("drift")]
    assert (drift > 0.1).all()  # two different maps: the comparison means something


def test_float16_is_widened_exactly_by_its_table():
    """Drift reads its float16 reference through a table: every one of the 65536 values (zeros, subnormals,
    negatives, inf, NaN) must widen to what numpy's own cast gives, bit for bit, strided views too."""
    from tb_attention_plugin.analysis.statistics import as_float32

    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    widened = as_float32(every)
    assert widened.dtype == np.float32
    assert np.array_equal(widened.view(np.uint32), every.astype(np.float32).view(np.uint32))
    strided = every.reshape(256, 256)[::3, 1::2]
    assert np.array_equal(as_float32(strided).view(np.uint32), strided.astype(np.float32).view(np.uint32))
