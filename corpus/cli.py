"""Command-line flags generated from the config dataclasses, and a whole run as one TOML file.

Every field of a config is a flag unless its metadata says cli=False (corpus.config.internal). Its name is
--<section>-<field> (a field already named after its section is not prefixed twice; the top section's fields are
--<field>). Metadata keys:
    help          the help text (every flag has one)
    flag          the name users already type (--alpha, --dedup-tables); the systematic name works too.
                  Fields of several sections that give the same flag (--seed) are all set by it.
    negative      a flag that sets a bool field to False (--decontam-window-total), with negative_help;
                  every bool also has --<name> and --no-<name>
    parse         the text of one flag (of one item, for a tuple) → the value; raises UserError
    metavar, choices
A tuple field is a repeatable flag: given on the command line, it replaces the file's list or the default.

A config file has the top section's fields at its top level and a [section] table for each other section, with
the fields' own names and types; a field whose flag takes NAME=VALUE is a list of "NAME=VALUE" strings (or a
table). Values come from the defaults, then the file, then the command line.
"""
import argparse
import re
import tomllib
import types
import typing
from dataclasses import Field, dataclass, fields
from pathlib import Path

import tomli_w

from corpus.errors import UserError


METAVARS = {int: "N", float: "X", Path: "PATH"}  # else TEXT


def _settable(cls) -> list[Field]:
    return [f for f in fields(cls) if f.metadata.get("cli", True)]


def _base(kind):
    """A field's type without `| None`."""
    if isinstance(kind, types.UnionType):
        return next(arg for arg in typing.get_args(kind) if arg is not type(None))
    return kind


def _item(kind):
    """The item type of a tuple[X, ...] field, None for a single value."""
    kind = _base(kind)
    return typing.get_args(kind)[0] if typing.get_origin(kind) is tuple else None


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ", ".join("=".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value) or "none"
    return "none" if value is None else str(value)


@dataclass
class _Option:
    names: list[str]
    dest: str
    targets: list[tuple[str, Field]]  # (section, field) it sets


class ConfigCli:
    """The flags of `sections` (name → config dataclass; `top` is the one without a prefix), and its files."""

    def __init__(self, sections: dict[str, type], top: str):
        self.sections, self.top = sections, top
        self.fields = {section: {f.name: f for f in _settable(cls)} for section, cls in sections.items()}
        by_flag: dict[str, list[tuple[str, Field]]] = {}
        for section, known in self.fields.items():
            for f in known.values():
                flag = f.metadata.get("flag") or self.systematic_flag(section, f.name)
                by_flag.setdefault(flag, []).append((section, f))
        self.options = []
        for flag, targets in by_flag.items():
            names = [flag]
            if len(targets) == 1:  # a shared flag (--seed) has no per-section alias: a file sets each
                section, f = targets[0]
                names.append(self.systematic_flag(section, f.name))
            self.options.append(_Option(list(dict.fromkeys(names)), flag.lstrip("-").replace("-", "_"), targets))

    def systematic_flag(self, section: str, name: str) -> str:
        words = name if section == self.top or name.startswith(f"{section}_") else f"{section}_{name}"
        return "--" + words.replace("_", "-")

    def flags_of(self, section: str, name: str) -> list[str]:
        """Every flag that sets this field."""
        option = next(o for o in self.options if any(s == section and f.name == name for s, f in o.targets))
        negative = self.fields[section][name].metadata.get("negative")
        return option.names + [negative] * bool(negative)

    # ------------------------------------------------------------------------------------------ flags

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add every field's flag. A flag not given leaves no attribute, so a file's value is not overridden."""
        defaults = {section: cls() for section, cls in self.sections.items()}
        groups = {section: parser.add_argument_group(
            f"{section} ({'the top level' if section == self.top else f'[{section}]'} of a config file)")
            for section in self.sections}
        for option in self.options:
            section, f = option.targets[0]
            default, group = getattr(defaults[section], f.name), groups[section]
            sets = f"; sets {', '.join(s for s, _ in option.targets)}" if len(option.targets) > 1 else ""
            kwargs = {"dest": option.dest, "default": argparse.SUPPRESS,
                      "help": f"{f.metadata['help']} (default: {_shown(default)}{sets})".replace("%", "%%")}
            if _base(f.type) is bool:
                group.add_argument(*option.names, action=argparse.BooleanOptionalAction, **kwargs)
                if "negative" in f.metadata:
                    group.add_argument(f.metadata["negative"], action="store_false", dest=option.dest,
                                        default=argparse.SUPPRESS, help=f.metadata["negative_help"])
                continue
            kind = _item(f.type) or _base(f.type)
            if _item(f.type) is not None:
                kwargs["action"] = "append"
            if "parse" not in f.metadata and kind in (int, float, Path):
                kwargs["type"] = kind
            if "choices" not in f.metadata:
                kwargs["metavar"] = f.metadata.get("metavar", METAVARS.get(kind, "TEXT"))
            kwargs.update({key: f.metadata[key] for key in ("metavar", "choices") if key in f.metadata})
            group.add_argument(*option.names, **kwargs)

    def from_flags(self, args: argparse.Namespace) -> dict[str, dict]:
        """section → {field: value} of the flags given."""
        values: dict[str, dict] = {section: {} for section in self.sections}
        for option in self.options:
            if hasattr(args, option.dest):
                for section, f in option.targets:
                    values[section][f.name] = _from_text(f, getattr(args, option.dest))
        return values

    # ------------------------------------------------------------------------------------------ files

    def from_file(self, path: Path) -> dict[str, dict]:
        """section → {field: value} of a config file; a setting it may not hold is a UserError naming it."""
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise UserError(f"cannot read --config {path} ({error.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"--config {path} is not a TOML file ({error})") from None
        values: dict[str, dict] = {section: {} for section in self.sections}
        for key, value in document.items():
            if key in self.sections and key != self.top and isinstance(value, dict):
                for name, item in value.items():
                    values[key][name] = self._file_value(path, key, name, item)
            else:
                values[self.top][key] = self._file_value(path, self.top, key, value)
        return values

    def _file_value(self, path: Path, section: str, name: str, value):
        where = name if section == self.top else f"[{section}] {name}"
        f = self.fields[section].get(name)
        if f is None:
            raise UserError(f"--config {path} sets {where}, which is not a setting of this job")
        try:
            return _from_file(f, value)
        except UserError as error:
            raise UserError(f"{error} (in --config {path}, {where})") from None
        except (TypeError, ValueError):
            raise UserError(f"--config {path}: {where} must be {_described(f.type)}, not {value!r}") from None

    def to_toml(self, configs: dict[str, object]) -> str:
        """The file that gives back `configs` (section → config instance)."""
        document: dict = {}
        for section, config in configs.items():
            table = document if section == self.top else document.setdefault(section, {})
            for f in _settable(type(config)):
                value = getattr(config, f.name)
                if value is not None:  # TOML has no null; a missing key is the default, None
                    table[f.name] = _plain(value)
        return tomli_w.dumps(document)

    # ------------------------------------------------------------------------------------------ both

    def configs(self, args: argparse.Namespace, config_file: Path | None = None) -> dict[str, object]:
        """section → config: the defaults, overridden by `config_file`, overridden by the flags in `args`. Each
        config checks itself as it is built; an error caused by the file says where in it."""
        from_file = self.from_file(config_file) if config_file else {section: {} for section in self.sections}
        from_flags = self.from_flags(args)
        built = {}
        for section, cls in self.sections.items():
            try:
                built[section] = cls(**{**from_file[section], **from_flags[section]})
            except UserError as error:
                raise self._located(error, config_file, section, from_file[section].keys() - from_flags[section],
                                    from_flags[section]) from None
        return built

    def _located(self, error: UserError, path: Path | None, section: str, from_file, from_flags) -> UserError:
        """`error`, saying which setting of the file it is about when it names that setting's flag."""
        message = str(error)
        for name in sorted(from_file):
            if any(re.search(re.escape(flag) + r"(?![\w-])", message) for flag in self.flags_of(section, name)):
                where = name if section == self.top else f"[{section}] {name}"
                return UserError(f"{message} (set in --config {path} as {where})")
        if path is not None and from_file and not from_flags:  # names no flag, but only the file set this section
            return UserError(f"{message} (in --config {path})")
        return error


def _from_text(f: Field, value):
    parse = f.metadata.get("parse")
    if _item(f.type) is not None:
        return tuple(parse(item) if parse else item for item in value)
    return parse(value) if parse else value


def _from_file(f: Field, value):
    item, parse = _item(f.type), f.metadata.get("parse")
    if item is None:
        return _single(_base(f.type), value)
    if parse and isinstance(value, dict):  # NAME = VALUE pairs written as a table
        value = [f"{name}={_single(str, text) if isinstance(text, str) else _single(float, text)}"
                 for name, text in value.items()]
    if not isinstance(value, list):
        raise TypeError(value)
    return tuple(parse(_single(str, v)) if parse else _single(item, v) for v in value)


def _single(kind, value):
    """`value` read from TOML as `kind`; TypeError when it is not one."""
    if kind is bool or isinstance(value, bool):
        if kind is not bool or not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    if kind in (str, Path) and isinstance(value, str):
        return kind(value)
    if kind is int and isinstance(value, int):
        return value
    raise TypeError(value)


def _described(kind) -> str:
    item = _item(kind)
    if item is not None:
        pairs = typing.get_origin(item) is tuple
        return 'a list of "NAME=VALUE" strings' if pairs else f"a list of {_described(item)}s"
    kind = _base(kind)
    return {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a string")


def _plain(value):
    """A config value as TOML holds it: a path as text, a tuple as a list, a pair as "NAME=VALUE"."""
    if isinstance(value, tuple):
        return ["=".join(map(str, v)) if isinstance(v, tuple) else _plain(v) for v in value]  # str(0.1) == repr
    return str(value) if isinstance(value, Path) else value


