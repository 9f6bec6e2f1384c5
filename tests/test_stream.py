"""The streamed results files (`dse.stream`): the same table as the in-memory path, without
ever loading the store on the CLI path; results.csv opt-in above a size; progress rates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from test_dse_run import SMALL

import dse.pareto
import dse.stream
from dse import config as config_mod
from dse.api import execute, mark
from dse.cli import main
from dse.progress import Progress
from dse.store import ResultStore

SWEEP = {
    **SMALL,
    "objectives": ["model_nmse", "energy_per_token_uj", {"column": "tokens_per_s",
                                                         "sense": "max"}],
    "constraints": [{"column": "area_mm2", "max": 3.0}],
    "search": {"chunk": 16},
}  # fmt: skip
SIZE = 4 * 2 * 3 * 2 * 3


def sweep(tmp_path: Path, **output) -> dict:
    cfg = json.loads(json.dumps(SWEEP))
    cfg["output"].update({"dir": str(tmp_path / "out"), **output})
    return cfg


def in_memory(cfg: dict) -> pd.DataFrame:
    """The table the code before streaming wrote: every stored row loaded, then marked."""
    spec = config_mod.resolve(cfg)
    with ResultStore(spec.output.dir, spec.to_dict(), config_mod.resume_key(spec)) as store:
        return mark(store.load(), spec)


def test_streamed_table_equals_the_in_memory_one_after_a_partial_run_and_duplicates(tmp_path):
    cfg = sweep(tmp_path)
    execute(cfg)
    chunks = Path(cfg["output"]["dir"]) / "chunks"
    files = sorted(chunks.glob("part-*.parquet"))
    assert len(files) == -(-SIZE // 16)
    # a killed run: two chunks and the final files are missing
    for p in (files[1], files[3]):
        p.unlink()
    for name in ("results.parquet", "results.csv"):
        (chunks.parent / name).unlink()
    # duplicated points: a copy of chunk 0 named to sort first, with changed values (the
    # first one in name order must win), and a chunk straddling chunks 2 and 4 (overlap)
    first = pq.read_table(files[0]).to_pandas()
    first["area_mm2"] += 0.5
    first["energy_per_token_uj"] *= 0.5
    pq.write_table(pa.Table.from_pandas(first, preserve_index=False),
                   chunks / "part-000000000000-000000000000.parquet")  # fmt: skip
    straddle = pd.concat([pq.read_table(f).to_pandas() for f in (files[2], files[4])])
    straddle = straddle[(straddle["point"] >= 40) & (straddle["point"] < 70)].iloc[::-1]
    pq.write_table(pa.Table.from_pandas(straddle, preserve_index=False),
                   chunks / "part-000000000040-ffffffffffff.parquet")  # fmt: skip
    want = in_memory(cfg)  # as the old code marked the stored rows (before the resume)
    done = execute(cfg)  # resumes: evaluates the two missing chunks
    want = in_memory(cfg)
    got = pq.read_table(done.results).to_pandas()
    assert len(got) == SIZE == done.points_evaluated
    assert got["point"].tolist() == list(range(SIZE))
    pd.testing.assert_frame_equal(got, want)
    assert (got.loc[:15, "area_mm2"].to_numpy() == first["area_mm2"].to_numpy()).all()
    assert 0 < done.feasible == int(want["feasible"].sum()) < SIZE
    assert sorted(done.front["point"]) == want.loc[want["on_front"], "point"].tolist()
    csv = pa_csv.read_csv(done.csv).to_pandas()
    assert csv["point"].tolist() == got["point"].tolist()
    assert done.bests["tokens_per_s"] == want.loc[want["feasible"], "tokens_per_s"].max()


def test_the_cli_run_never_loads_the_table(tmp_path, monkeypatch, capsys):
    def refuse(self):
        raise AssertionError("store.load() called on the CLI path")

    monkeypatch.setattr(ResultStore, "load", refuse)
    cfg_file = tmp_path / "sweep.json"
    cfg_file.write_text(json.dumps(sweep(tmp_path)))
    assert main(["run", str(cfg_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points_evaluated"] == SIZE
    assert summary["results"].endswith("results.csv")
    monkeypatch.undo()
    want = in_memory(sweep(tmp_path))
    assert summary["front_size"] == int(want["on_front"].sum()) > 0
    assert summary["feasible"] == int(want["feasible"].sum())


def test_csv_is_skipped_above_the_auto_size_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dse.stream, "CSV_AUTO_MAX_ROWS", SIZE - 1)
    done = execute(sweep(tmp_path, csv=True))  # asked for: written above the size
    assert done.csv is not None
    assert len(pa_csv.read_csv(done.csv).to_pandas()) == SIZE
    cfg_file = tmp_path / "sweep.json"
    cfg_file.write_text(json.dumps(sweep(tmp_path)))
    assert main(["run", str(cfg_file)]) == 0
    assert not done.csv.exists()  # the earlier table is removed, not left stale
    text = capsys.readouterr().out
    assert "no results.csv" in text and "output.csv: true" in text
    assert "results.parquet" in text
    assert execute(sweep(tmp_path, csv=False)).csv is None
    monkeypatch.setattr(dse.stream, "CSV_AUTO_MAX_ROWS", SIZE)
    assert execute(sweep(tmp_path)).csv is not None


def test_output_csv_takes_only_booleans_or_auto(tmp_path):
    with pytest.raises(dse.UserError, match=r"output\.csv"):
        execute(sweep(tmp_path, csv="sometimes"))


class _Tty:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_rate_ignores_resumed_points(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("dse.progress.time.perf_counter", lambda: now[0])
    stream = _Tty()
    bar = Progress(1000, stream=stream)
    bar.resumed(900)
    now[0] += 10
    bar.update(50)  # 50 new points in 10 s
    assert "950/1,000 points 5/s, 10 s left" in stream.text


# --- map-reduce: a process pool and Dask give the in-process results, sending only summaries


def _run_recording(monkeypatch, cfg: dict, **options) -> tuple[pd.DataFrame, list]:
    """results.parquet of `execute(cfg, **options)` and what the client received per chunk."""
    import dse.distributed as dist

    received: list = []
    real = dist.in_order

    def recording(*args):
        for summary in real(*args):
            received.append(summary)
            yield summary

    monkeypatch.setattr(dist, "in_order", recording)
    done = execute(cfg, **options)
    return pq.read_table(done.results).to_pandas(), received


def _assert_same_as_in_process(tmp_path, monkeypatch, **options) -> None:
    import dse.distributed as dist

    serial_cfg = sweep(tmp_path / "serial")
    serial, got = _run_recording(monkeypatch, serial_cfg, workers=1)
    assert got == []  # the in-process path
    cfg = sweep(tmp_path / "parallel")
    table, received = _run_recording(monkeypatch, cfg, **options)
    pd.testing.assert_frame_equal(table, serial)
    assert table["on_front"].any() and (~table["feasible"]).any()
    assert table["point"].tolist() == list(range(SIZE))
    # the client got one summary per chunk, never a chunk's rows
    assert len(received) == -(-SIZE // 16)
    assert all(type(s) is dist.ChunkSummary for s in received)
    assert sorted(i for s in received for i in s.points) == list(range(SIZE))
    merged = dse.pareto.RunningFront(3)
    for s in received:
        assert len(s.front.ids) <= len(s.points)
        merged.merge(s.front)
    assert sorted(merged.ids) == table.loc[table["on_front"], "point"].tolist()
    assert merged.feasible == table["feasible"].sum()
    # an interrupted run resumes: the chunks the workers wrote are the store's chunks
    chunks = sorted((Path(cfg["output"]["dir"]) / "chunks").glob("part-*.parquet"))
    assert len(chunks) == len(received)
    chunks[2].unlink()
    again, received = _run_recording(monkeypatch, cfg, **options)
    pd.testing.assert_frame_equal(again, serial)
    assert [len(s.points) for s in received] == [16]


def test_process_pool_gives_the_in_process_results_from_summaries(tmp_path, monkeypatch):
    _assert_same_as_in_process(tmp_path, monkeypatch, workers=2)


def test_dask_local_cluster_gives_the_in_process_results_from_summaries(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    _assert_same_as_in_process(tmp_path, monkeypatch, scheduler="local")


def test_default_workers_start_a_pool_only_for_large_grids():
    from dse.distributed import POOL_MIN_POINTS, default_workers

    assert default_workers(POOL_MIN_POINTS - 1) == 1
    assert default_workers(POOL_MIN_POINTS) == min(2, len(__import__("os").sched_getaffinity(0)))


def test_readme_cluster_example_cites_existing_options():
    """The README's cluster example (a `shell` block the documentation tests do not run) uses
    `dse run` options and `search:` keys that exist."""
    import re
    import shlex

    import yaml

    from dse.cli import build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    lines = [ln.split("#")[0].split() for b in re.findall(r"```shell\n(.*?)```", readme, re.S)
             for ln in b.splitlines() if ln.startswith("dse ")]  # fmt: skip
    assert lines and any("--scheduler" in ln for ln in lines)
    for line in lines:
        args = build_parser().parse_args(shlex.split(" ".join(line))[1:])
        assert args.scheduler == "tcp://HOST:8786"
    snippet = re.search(r"```yaml\n(search: \{[^\n]*executor: dask[^\n]*)\n```", readme)
    spec = config_mod.resolve({**SWEEP, **yaml.safe_load(snippet.group(1))})
    assert spec.search.scheduler == "tcp://HOST:8786"


@pytest.mark.parametrize("workers", [1, 2])
def test_every_phase_has_a_bar_and_the_evaluation_rate_counts_only_new_points(
    tmp_path, monkeypatch, workers
):
    cfg = sweep(tmp_path, report=True)
    execute(cfg)
    chunks = sorted((Path(cfg["output"]["dir"]) / "chunks").glob("part-*.parquet"))
    chunks[1].unlink()  # an interrupted run: one chunk (16 points) left to evaluate
    bars: list[tuple[str, int, int, int]] = []
    monkeypatch.setattr(Progress, "close", lambda b: bars.append((b.label, b.total, b.done,
                                                                  b.skipped)))  # fmt: skip
    execute(cfg, workers=workers, quiet=False)
    assert bars == [
        ("points", SIZE, SIZE, SIZE - 16),  # rate: (done - skipped) / elapsed = 16 new points
        ("rows scanned for the front", SIZE, SIZE, 0),
        ("rows written", SIZE, SIZE, 0),
        ("report written", 1, 1, 0),
    ]


def test_closest_is_the_best_over_every_chunk_group(tmp_path):
    """`Written.closest` (the no-feasible-design message) is the best constraint value over all
    stored rows, not over the last group of chunks read."""
    spec = config_mod.resolve(sweep(tmp_path))
    execute(spec)
    with ResultStore(spec.output.dir, spec.to_dict(), config_mod.resume_key(spec)) as store:
        table = store.load()
        assert len(list(Path(spec.output.dir, "chunks").glob("part-*.parquet"))) > 2
        written = dse.stream.write_results(store, spec.objectives, spec.constraints)
    # the smallest area is not in the last chunk, so a per-group value would differ
    assert table["area_mm2"].idxmin() < len(table) - 16
    assert written.closest == {"area_mm2": pytest.approx(float(table["area_mm2"].min()))}


def test_a_fresh_pool_run_writes_from_the_workers_front_without_a_second_scan(
    tmp_path, monkeypatch
):
    """The workers' merged front covers every stored row of a fresh grid: the final files are
    written from it (one pass over the chunks, not two) and equal the in-memory marking; a
    sweep where no row is feasible still scans, for the message's best values."""
    scans: list[int] = []
    real = dse.stream._scan
    monkeypatch.setattr(dse.stream, "_scan", lambda *a: scans.append(1) or real(*a))
    cfg = sweep(tmp_path)
    done = execute(cfg, workers=2)
    assert scans == []
    got = pq.read_table(done.results).to_pandas()
    want = in_memory(cfg)
    pd.testing.assert_frame_equal(got, want)
    assert 0 < done.feasible == int(want["feasible"].sum()) < SIZE
    assert done.bests["tokens_per_s"] == want.loc[want["feasible"], "tokens_per_s"].max()
    assert sorted(done.front["point"]) == want.loc[want["on_front"], "point"].tolist()
    impossible = sweep(tmp_path / "none")
    impossible["constraints"] = [{"column": "area_mm2", "max": 1e-9}]
    with pytest.raises(dse.UserError, match=r"best area_mm2 reached: \d"):
        execute(impossible, workers=2)
    assert scans == [1]
