"""Metrics: pass@1, the Δ identity, F1 per class, seeded bootstrap over problems."""

import numpy as np
import pytest

from ctrl.metrics import bootstrap, deltas, discrimination, pass_at_1, point_metrics


def test_pass_at_1_and_deltas_by_hand():
    before = [True, False, False, True, False]
    after = [True, True, False, False, False]
    assert pass_at_1(before) == pytest.approx(0.4)
    up, down = deltas(before, after)
    assert (up, down) == (pytest.approx(0.2), pytest.approx(0.2))
    assert pass_at_1(after) == pytest.approx(pass_at_1(before) + up - down)
    with pytest.raises(ValueError, match="pair up"):
        deltas([True], [True, False])


def test_delta_identity_holds_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        b, a = rng.random(n) < 0.4, rng.random(n) < 0.5
        m = point_metrics({"before": b, "after": a})
        assert m["pass1_after"] == pytest.approx(m["pass1_before"] + m["delta_up"] - m["delta_down"])


def test_discrimination_f1_by_hand():
    passed = [True, True, False, False, False]
    judg = ["correct", "incorrect", "incorrect", "correct", None]
    d = discrimination(passed, judg)
    # passed class: tp=1 fp=1 fn=1 -> 0.5 ; failed class: tp=1 fp=1 fn=2 -> 2/5
    assert d["f1_passed"] == pytest.approx(0.5)
    assert d["f1_failed"] == pytest.approx(0.4)
    assert d["f1_macro"] == pytest.approx(0.45)
    assert d["accuracy"] == pytest.approx(0.4)
    assert d["parse_rate"] == pytest.approx(0.8)
    perfect = discrimination([True, False], ["correct", "incorrect"])
    assert perfect["f1_macro"] == 1.0 and perfect["accuracy"] == 1.0


def test_bootstrap_is_seeded_covers_point_and_resamples_problems():
    rng = np.random.default_rng(0)
    groups = [f"p{i // 4}" for i in range(80)]
    cols = {"before": rng.random(80) < 0.3, "after": rng.random(80) < 0.6}
    r1 = bootstrap(groups, cols, n_resamples=300, seed=7)
    r2 = bootstrap(groups, cols, n_resamples=300, seed=7)
    assert r1 == r2
    for name, (v, lo, hi) in r1.items():
        assert lo <= v <= hi, name
    assert r1["pass1_after"][2] > r1["pass1_after"][1]  # a real interval, not a point
    # one problem only: every resample is that problem, so the interval collapses
    one = bootstrap(["p"] * 5, {"before": np.array([1, 0, 1, 0, 0], bool)}, n_resamples=50)
    assert one["pass1_before"] == (pytest.approx(0.4), pytest.approx(0.4), pytest.approx(0.4))
