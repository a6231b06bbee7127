"Tests of the tabular experiments on the verdict engine: per-seed splits, where lambda acts, the variants study."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest

from advex_lit import exp_robust as er, exp_tabular as et
from advex_lit.exp_images import ModelSpec
from advex_lit.experiments import RunContext, select_runs


def test_each_seed_draws_its_own_split():
    a, b = et.tabular_splits("spambase", "arxiv", 0), et.tabular_splits("spambase", "arxiv", 1)
    assert a.x_test.shape == b.x_test.shape and not np.array_equal(a.x_test, b.x_test)
    assert np.array_equal(a.x_test, et.tabular_splits("spambase", "arxiv", 0).x_test)
    run = next(r for r in select_runs("app_i", "cpu") if r.seed == 2 and r.dataset == "spambase")
    ctx = RunContext(out=".", profile="cpu")
    assert np.array_equal(et.run_split(run, ctx, "arxiv").x_test, et.tabular_splits("spambase", "arxiv", 2).x_test)
    assert {r.seed for r in select_runs("app_i", "cpu")} == {0, 1, 2} == {r.seed for r in select_runs("table1_tabular", "cpu")}


def test_ftrl_l1_sets_weights_exactly_to_zero_and_the_loss_penalty_does_not():
    spam = et.tabular_splits("spambase", "arxiv", 0)
    x, y = spam.x_train[:800], spam.y_train[:800]
    proximal = et.weights_of(et.train_logistic(x, y, "l1", 30.0, epochs=5, l1_by="ftrl"))
    penalty = et.weights_of(et.train_logistic(x, y, "l1", 0.03, epochs=5, l1_by="loss"))
    natural = et.weights_of(et.train_logistic(x, y, "natural", 0.0, epochs=5))
    assert (proximal == 0).sum() >= 10 and (penalty == 0).sum() == 0 and (natural == 0).sum() == 0
    with pytest.raises(ValueError, match="l1_by"):
        et.train_logistic(x, y, "l1", 0.03, epochs=1, l1_by="adam")


def test_variants_share_the_models_lambda_does_not_touch():
    runs = et.tabular_variants_runs("cpu")
    assert len(runs) == len({r.config_hash() for r in runs}) == 216
    records = pd.DataFrame([{"dataset": r.dataset, "method": r.method, "seed": r.seed, **r.param_dict} for r in runs])
    for name, setting in et.TABULAR_VARIANTS.items():
        mine = et.variant_records(records, name, "cpu")
        l1 = mine[mine["method"] == "l1"]
        assert (mine["epochs"] == setting["epochs"]).all() and (l1["l1_by"] == setting["l1_by"]).all()
        assert sorted(l1[(l1.dataset == "mushroom") & (l1.seed == 0)]["lambda"]) == \
            sorted(et.variant_lambdas("cpu", "mushroom", setting["l1_by"]))
        assert len(mine[mine["method"] != "l1"]) == 2 * 3 * 4  # data sets x seeds x (App. I n, a; Table 1 n, a)
    assert set(et.variant_lambdas("cpu", "spambase", "ftrl")) >= {200, 600}  # the arXiv App. I's FTRL strengths


def test_robust_maps_show_the_table2_models():
    for profile in ("quick", "cpu"):
        table2 = {(r.dataset, r.method): ModelSpec.of(r) for r in select_runs("table2", profile)}
        maps = select_runs("robust_maps", profile)
        assert len(maps) == len(table2) and all(ModelSpec.of(r) == table2[(r.dataset, r.method)] for r in maps)
        assert all(r.param_dict["n_maps"] == er.N_MAPS for r in maps)


# ---------- FEAT-INDEP: the pruning claim of arXiv Sec. 3.1 ----------
FI_A = np.array([1.0, 0.4, 0.1, -0.2])
FI_GRID = (0.0, 0.1, 0.3, 0.6)


def _feat_indep_records(above: float, below: float, seeds=(0, 1, 2), noise: float = 0.01) -> pd.DataFrame:
    "Records whose weights lose `above` of the natural weight where eps > |a_i| and `below` where eps < |a_i|."
    rng = np.random.default_rng(7)
    rows = []
    for s in seeds:
        natural = np.sign(FI_A) * (1.0 + np.abs(FI_A) + s)
        for eps in FI_GRID:
            margin = eps - np.abs(FI_A)
            removed = np.where(margin > 0, above, np.where(margin < 0, below, 0.5)) + rng.normal(0, noise, len(FI_A))
            w = natural if eps == 0 else natural * (1.0 - removed)
            rows.append({"dataset": "synthetic:feat_indep", "method": "adversarial_closed_form", "profile": "cpu",
                         "seed": s, "eps": eps, "strengths": FI_A.tolist(), "weights": w.tolist()})
    return pd.DataFrame(rows)


def test_feat_indep_inputs_split_the_pairs_at_eps_equal_to_the_strength():
    data = et.feat_indep_inputs(None, _feat_indep_records(0.9, 0.2, noise=0.0))
    # eps 0.1: 1.0, 0.4, -0.2 below (0.1 on the boundary); eps 0.3: 1.0, 0.4 below, 0.1, -0.2 above;
    # eps 0.6: 1.0 below, 0.4, 0.1, -0.2 above
    assert data["above"].shape == (3, 5) and data["below"].shape == (3, 6)
    assert np.allclose(data["above"], 0.9) and np.allclose(data["below"], 0.2)
    assert et.feat_indep_inputs(None, _feat_indep_records(0.9, 0.2).iloc[:0]) == {"above": None, "below": None}


@pytest.mark.parametrize("above, below, expected", [(0.95, 0.1, "supported"), (0.3, 0.3, "inconclusive"),
                                                    (0.1, 0.8, "contradicted")])
def test_feat_indep_verdict_has_the_known_outcome(above, below, expected):
    (verdict,) = et.feat_indep_verdicts(_feat_indep_records(above, below, noise=0.05))
    assert verdict.claim == "arxiv.thm31.feat_indep.weak_pruned" and verdict.outcome == expected
    assert verdict.effect == pytest.approx(above - below, abs=0.05) and verdict.low < verdict.effect < verdict.high
    assert verdict.seeds == 3 and "stand-in" not in verdict.note


def test_feat_indep_verdict_refuses_seeds_on_different_grids():
    records = _feat_indep_records(0.9, 0.1)
    with pytest.raises(ValueError, match="eps grid"):
        et.feat_indep_verdicts(records[~((records["seed"] == 1) & (records["eps"] == 0.6))])
