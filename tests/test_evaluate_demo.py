"""The evaluator against the decontam stage's real output on the demo crawl: every example of every demo
benchmark is found clean or dirty, by line and by id alike, and the synthetic tasks the evaluator generates
are the demo's benchmark files (the same lines, so the same split)."""
import json

from model.contamination import CLEAN, DIRTY, Subsets, load_contamination
from model.tasks import resolve_tasks


def test_every_demo_benchmark_example_is_clean_or_dirty_by_line_and_by_id_alike(demo_run):
    out = demo_run["out"]
    report = json.loads((out / "reports" / "contamination.json").read_text())
    by_line = load_contamination(out / "reports" / "contamination.json")
    assert load_contamination(out / "benchmarks").keys() == by_line.keys() == report["benchmarks"].keys()
    files = resolve_tasks(str(demo_run["demo"]["out"] / "benchmarks"))
    generated = resolve_tasks(",".join(t.name for t in files if t.name != "prose_cloze"))
    assert {t.name for t in files} == set(report["benchmarks"]) and len(generated) == len(files) - 1
    for task in files + generated:
        benchmark = report["benchmarks"][task.name]
        items = task.items[:benchmark["examples"]]
        by_id = Subsets(dirty_ids=set(benchmark["dirty_ids"]), examples=benchmark["examples"])
        split = [by_line[task.name].of(item) for item in items]
        assert split == [by_id.of(item) for item in items], task.name
        assert split.count(DIRTY) == benchmark["dirty_after"] and split.count(CLEAN) == benchmark["clean_after"]
    assert sum(report["benchmarks"][t.name]["dirty_after"] for t in files) > 0  # the check saw dirty examples
