"""examples/quickstart.ipynb, executed by a real Jupyter kernel (nbclient + ipykernel)."""

import base64
from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).parents[1] / "examples" / "quickstart.ipynb"


def outputs_of(cell) -> list:
    return [o for o in cell.outputs if o.output_type != "stream" or o.name == "stdout"]


def text_of(output) -> str:
    return output.get("text") or output.get("data", {}).get("text/plain", "")


def test_quickstart_notebook_runs_and_shows_its_results(tmp_path):
    """The notebook's task trains with 2 workers and 2 seeds; trials, table, figure (a PNG)
    and final choice appear in its outputs."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    nbformat.write(notebook, tmp_path / "quickstart.executed.ipynb")
    cells = {cell.source.splitlines()[-1]: outputs_of(cell) for cell in notebook.cells
             if cell.cell_type == "code"}
    run = [text_of(o) for o in cells["study"]]
    assert "ablation on sine, 10 trainings, 2 worker(s)" in run[0]
    assert any(line.startswith("trainings 10/10") for line in run)
    assert "10 trainings: 10 complete" in run
    assert "sine-quickstart" in cells["study"][-1].data["text/html"]
    trials = text_of(cells['trials[["number", "status", "lr", "width", "seed", "val_metric", '
                           '"train_time_s"]]'][0]).splitlines()
    assert len(trials) == 11 and {line.split()[2] for line in trials[1:]} == {"complete"}
    assert {line.split()[5] for line in trials[1:]} == {"0", "1"}
    table = text_of(cells['study.table("lr")'][0])
    assert "val_mean" in table and "p_holm" in table and len(table.splitlines()) >= 4
    figure = cells['study.plot("lr")'][0]
    assert base64.b64decode(figure.data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    final = text_of(cells[
        """print(f"test MSE {final['test_metric']:.4f} (validation {final['val_metric']:.4f})")"""
    ][0])
    assert final.startswith("best: ") and "test MSE 0.0" in final
    assert (tmp_path / "studies" / "sine-quickstart" / "final.json").is_file()
