"""`hpstudy train` and `hpstudy tasks` as a user calls them."""

import json

import pytest

from hpstudy.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_has_documented_keys(capsys):
    """--json prints one object with the documented keys."""
    code, out, _ = run_cli(capsys, "train", "houses", "--set", "epochs=2", "--json")
    data = json.loads(out)
    assert code == 0
    assert {"task", "params", "train_metric", "val_metric", "train_loss", "val_loss",
            "train_time_s", "epochs_run", "status"} <= set(data)
    assert data["params"]["epochs"] == 2 and data["epochs_run"] == 2


def test_train_summary_without_json(capsys):
    """Without --json the summary names the metric and the status."""
    code, out, _ = run_cli(capsys, "train", "houses", "--set", "epochs=1")
    assert code == 0 and "status: ok" in out and "MSE" in out


def test_tasks_lists_defaults_and_choices(capsys):
    """`hpstudy tasks` lists both tasks with defaults and allowed values."""
    code, out, _ = run_cli(capsys, "tasks")
    assert code == 0 and "usps" in out and "houses" in out and "gaussian_nll" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "Unknown task 'nope'"),
        (["train", "houses", "--set", "depth=3"], "Unknown hyperparameter 'depth'"),
        (["train", "houses", "--set", "lr=0"], "'lr' hyperparameter must be a float > 0"),
        (["train", "houses", "--set", "lr=-1"], "'lr' hyperparameter must be a float > 0"),
        (["train", "houses", "--set", "batch_size=0"], "'batch_size' hyperparameter"),
        (["train", "houses", "--set", "layers=0"], "'layers' hyperparameter"),
        (["train", "houses", "--set", "layers=two"], "'layers' hyperparameter"),
        (["train", "houses", "--set", "activation=swish"], "'activation' hyperparameter"),
        (["train", "houses", "--set", "optimizer=lbfgs"], "'optimizer' hyperparameter"),
        (["train", "usps", "--set", "loss=gaussian_nll"], "'loss' hyperparameter"),
        (["train", "usps", "--set", "normalize=false"], "Unknown hyperparameter 'normalize'"),
        (["train", "houses", "--set", "lr"], "Expected --set KEY=VALUE"),
        (["train", "usps", "--data-dir", "/nonexistent/dir"], "does not exist"),
        (["train"], "the following arguments are required"),
    ],
)
def test_train_bad_input_one_line_exit_2(capsys, args, message):
    """Each bad input: exit 2 and one line on stderr naming the problem."""
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_train_usps_without_data_says_where_it_looked(capsys, tmp_path, monkeypatch):
    """An empty data directory and no network: one line naming the directory."""
    import hpstudy.tasks.usps_data as usps_data

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(usps_data, "urlopen", no_network, raising=False)
    monkeypatch.setattr(usps_data.urllib.request, "urlopen", no_network, raising=False)
    code, _, err = run_cli(capsys, "train", "usps", "--data-dir", str(tmp_path))
    assert code == 2 and str(tmp_path) in err and err.count("\n") == 1
