"""The final choice: one test evaluation, stored, never repeated; the report command."""

import json

import pytest

from hpstudy.cli import main
from hpstudy.study import final


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("final") / "h"
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", "0.02",
                 "--repeats", "2", "--quiet"]) == 0
    return out


def test_report_makes_final_choice_and_files(study_dir, capsys):
    """`hpstudy report` writes the report files and final.json with a test metric."""
    assert main(["report", str(study_dir), "--format", "md,html,csv"]) == 0
    data = json.loads((study_dir / "final.json").read_text())
    assert data["rule"] == "best" and data["seeds"] == [0, 1]
    assert len(data["test_metrics"]) == 2 and 0 < data["test_metric"] < 2
    assert (study_dir / "report.md").is_file() and (study_dir / "report.html").is_file()
    assert list((study_dir / "figures").glob("*.png"))
    assert "report" in (study_dir / "report.md").read_text().lower()
    assert sorted(p.name for p in (study_dir / "models").iterdir()) == ["seed0.pt", "seed1.pt"]


def test_report_again_never_touches_test_set(study_dir, capsys, monkeypatch):
    """A second report (the rule left out: the stored one) shows the stored numbers without
    evaluating again."""
    before = json.loads((study_dir / "final.json").read_text())

    def forbidden(*args, **kwargs):
        raise AssertionError("the test set was evaluated a second time")

    monkeypatch.setattr(final, "evaluate_on_test", forbidden)
    assert main(["report", str(study_dir), "--format", "md"]) == 0
    after = json.loads((study_dir / "final.json").read_text())
    assert after["test_metric"] == before["test_metric"] and after["rule"] == "best"


def test_final_models_load_with_weights_only(study_dir):
    """Saved final models are plain state dicts that load with weights_only=True."""
    import torch

    state = torch.load(study_dir / "models" / "seed0.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_report_bad_format_is_one_line(study_dir, capsys):
    """An unknown report format: exit 2, one line."""
    assert main(["report", str(study_dir), "--format", "pdf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format" in err


def test_report_missing_study_is_one_line(tmp_path, capsys):
    """A directory without a study: exit 2, one line."""
    assert main(["report", str(tmp_path)]) == 2
    assert "no study.db" in capsys.readouterr().err


def test_report_rule_retrains_the_reports_choice(tmp_path, capsys):
    """--rule report evaluates the configuration the report chose (houses: batch_size=16)."""
    out = tmp_path / "h"
    assert main(["run", "houses-seed", "--out", str(out), "--epoch-scale", "0.02", "--quiet"]) == 0
    assert main(["report", str(out), "--rule", "report", "--format", "md"]) == 0
    data = json.loads((out / "final.json").read_text())
    assert data["rule"] == "report" and data["params"]["batch_size"] == 16
    assert data["params"]["epochs"] == 2 and data["test_metric"] > 0


def test_parallel_retraining_equals_one_process(tmp_path):
    """The final retraining in a process per seed gives the numbers and models of the same
    retraining in this process, seed by seed (two seeds told apart by their numbers)."""
    import torch

    from hpstudy.tasks import get_task

    task = get_task("houses")
    params = dict(task.make_config({"epochs": 3, "width": 8}).as_dict())
    params.pop("seed", None)
    splits = task.load_splits(task.make_config(params), None)
    here = final.evaluate_on_test(task, params, splits, [0, 1], "cpu", tmp_path / "a", jobs=1)
    apart = final.evaluate_on_test(task, params, splits, [0, 1], "cpu", tmp_path / "b", jobs=2)
    for one, other in zip(here, apart, strict=True):
        for key in ("train_metric", "val_metric", "test_metric", "test_loss"):
            assert one[key] == other[key], key
        a = torch.load(tmp_path / "a" / f"seed{one['seed']}.pt", weights_only=True)
        b = torch.load(tmp_path / "b" / f"seed{other['seed']}.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert here[0]["test_metric"] != here[1]["test_metric"]
