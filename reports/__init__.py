"""Self-contained HTML Pareto reports of a sweep (plotly figures, one offline file).

`build_report(results, config, run_info)` renders a results table and its resolved config;
`write_report(results_dir)` renders a sweep's output directory to its `report.html`. Only the
results directory is needed: nothing here imports the optimizer or the evaluator.
"""

from reports.report import build_report, write_report

__all__ = ["build_report", "write_report"]
