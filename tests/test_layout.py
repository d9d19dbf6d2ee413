"""The package layout's rules (corpus/__init__.py): model/ never loads Spark, corpus/ never imports model/,
what corpus/ and model/ share is dependency-free, and no module imports another's `_private` name."""
import ast
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("corpus", "model")
SHARED = ("corpus.errors", "corpus.jsonl", "corpus.benchmarks", "corpus.shards", "corpus.hashing")
MODEL_ENTRY_POINTS = ("model.train", "model.evaluate", "model.tasks", "model.shards", "model.contamination")
HEAVY = ("pyspark", "py4j", "pyarrow", "pandas", "tokenizers", "torch")  # what the shared modules must not load
# corpus/demo.py may forward to the demo generator's own package, which may import model/.
FORWARDING_MODULE = ("corpus/demo.py", "corpus_demo")
# (importing file, module, name) -> why it is allowed. Empty: every shared name is public.
PRIVATE_IMPORTS_ALLOWED: dict[tuple[str, str, str], str] = {}
# (corpus file, model module) -> why it may import it, inside a function only (importing the file loads no model/).
MODEL_IMPORTS_ALLOWED = {
    ("corpus/report.py", "model.train"): "the run report embeds the trainer's own loss figure",
    ("corpus/report.py", "model.evaluate"): "the run report embeds the evaluator's own accuracy figure",
}


def loaded_after_import(modules) -> set[str]:
    """The names in sys.modules after a fresh interpreter imports `modules`."""
    code = (f"import json, sys\nfor m in {list(modules)!r}: __import__(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (REPO_ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).parent.parts)


def top(module: str) -> str:
    return module.split(".")[0]


def is_module(dotted: str) -> bool:
    """Whether `dotted` names a module or package of this repository."""
    path = REPO_ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_nodes(source: str, package: str):
    """(node, absolute module) of every import in `source`, function bodies included; a relative import
    resolves against `package`, the file's own; `import a.b` gives "a.b"."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1]) if node.level else ""
            yield node, ".".join(part for part in (base, node.module or "") if part)


def imports(source: str, package: str) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, names imported from it: none for `import a.b`) of every import in `source`."""
    return sorted((node.lineno, module, [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else [])
                  for node, module in import_nodes(source, package))


def file_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    return imports(path.read_text(encoding="utf-8"), package_of(path))


def dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        value = dotted_name(node.value)
        return f"{value}.{node.attr}" if value else None
    return None


def private_names_used(source: str, package: str) -> list[tuple[int, str, str]]:
    """(line, module, name) of every `_private` name of a corpus/ or model/ module that `source` imports, or
    reads as an attribute of a module it imported (`from corpus import resample` then `resample._mix`)."""
    found, bound = [], {}  # bound: local name -> the module it names
    for node, module in import_nodes(source, package):
        if top(module) not in PACKAGES:
            continue
        if isinstance(node, ast.Import):
            alias = next(a for a in node.names if a.name == module)
            bound[alias.asname or top(module)] = module if alias.asname else top(module)
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, module, alias.name))
            elif is_module(f"{module}.{alias.name}"):
                bound[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            first, _, rest = (dotted_name(node.value) or "").partition(".")
            module = ".".join(part for part in (bound.get(first), rest) if part)
            if first in bound and is_module(module):
                found.append((node.lineno, module, node.attr))
    return sorted(found)


def test_model_entry_points_load_no_spark():
    loaded = loaded_after_import(MODEL_ENTRY_POINTS)
    assert set(MODEL_ENTRY_POINTS) <= loaded
    assert not {m for m in loaded if top(m) in ("pyspark", "py4j")}


def test_shared_modules_load_nothing_heavy_and_no_other_corpus_module():
    loaded = loaded_after_import(SHARED)
    assert not {m for m in loaded if top(m) in HEAVY}
    assert {m for m in loaded if top(m) == "corpus"} == {"corpus", *SHARED}


def test_model_imports_only_the_shared_corpus_modules():
    found = [f"{relative(path)}:{line} imports {module}"
             for path in python_files("model") for line, module, names in file_imports(path)
             if top(module) == "corpus" and module not in SHARED
             and not (module == "corpus" and all(f"corpus.{name}" in SHARED for name in names))]
    assert found == []


def module_level_lines(source: str) -> set[int]:
    """Lines of the imports a module runs when it is imported (not those inside a function)."""
    return {node.lineno for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))}


def test_corpus_never_imports_model():
    demo_file, demo_package = FORWARDING_MODULE
    found = []
    for path in python_files("corpus"):
        source, name = path.read_text(encoding="utf-8"), relative(path)
        for line, module, _ in imports(source, package_of(path)):
            allowed = (name, module) in MODEL_IMPORTS_ALLOWED and line not in module_level_lines(source)
            if (top(module) == "model" and not allowed) or (top(module) == demo_package and name != demo_file):
                found.append(f"{name}:{line} imports {module}")
    assert found == []


def test_no_module_imports_a_private_name_of_another():
    found = [f"{relative(path)}:{line} uses {name} of {module}"
             for path in python_files(*PACKAGES, "jobs", "bench", FORWARDING_MODULE[1])
             for line, module, name in private_names_used(path.read_text(encoding="utf-8"), package_of(path))
             if (relative(path), module, name) not in PRIVATE_IMPORTS_ALLOWED]
    assert found == []


def test_the_scans_find_what_they_refuse():
    """The checks above pass on an empty list: the scanner must see each kind of import they look for."""
    source = ("import model.train\nfrom . import resample, jsonl as lines\nfrom corpus.dedup import _BREAKS, PAPER\n"
              "import corpus.ids as ids\n"
              "def f():\n    from model import synthetic\n"
              "    return resample._HEX_VALUE, lines._STEP, lines.MAX_LINE_BYTES, ids._x, model.train._y, PAPER._z\n")
    assert imports(source, "corpus") == [(1, "model.train", []), (2, "corpus", ["resample", "jsonl"]),
                                         (3, "corpus.dedup", ["_BREAKS", "PAPER"]), (4, "corpus.ids", []),
                                         (6, "model", ["synthetic"])]
    assert module_level_lines(source) == {1, 2, 3, 4}
    assert private_names_used(source, "corpus") == [
        (3, "corpus.dedup", "_BREAKS"), (7, "corpus.ids", "_x"), (7, "corpus.jsonl", "_STEP"),
        (7, "corpus.resample", "_HEX_VALUE"), (7, "model.train", "_y")]
