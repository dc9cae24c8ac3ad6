"""Parse YAML text into plain data plus the position of every value (for precise errors).

PyYAML's composer gives nodes with start marks; we build the data ourselves from the node
tree so each path `("k3os", "labels", "site")` maps to the line and column it came from.
"""

from __future__ import annotations

from typing import Any

import yaml

from k3os.config.errors import ConfigSyntaxError, Origin, Path_

Marks = dict[Path_, Origin]


class _Loader(yaml.SafeLoader):
    """Safe loader; we only borrow its scalar resolution and construction."""


def _position(source: str, file: str, mark: yaml.Mark) -> Origin:
    return Origin(source, file, mark.line + 1, mark.column + 1)


def parse_yaml(text: str, *, source: str, file: str) -> tuple[dict[str, Any], Marks]:
    """Parse one YAML document into a mapping and the positions of its values.

    An empty document is an empty mapping. Raises ConfigSyntaxError with file:line:column.
    """
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise ConfigSyntaxError(Origin(source, file, line, column), e.reason) from e
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        origin = _position(source, file, mark) if mark else Origin(source, file)
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigSyntaxError(origin, problem) from e
    finally:
        loader.dispose()
    marks: Marks = {}
    if node is None:
        return {}, marks
    if not isinstance(node, yaml.MappingNode):
        raise ConfigSyntaxError(
            _position(source, file, node.start_mark), "expected a mapping at the top of the file"
        )
    data = _build(loader, node, (), source, file, marks)
    assert isinstance(data, dict)
    return data, marks


def _build(
    loader: _Loader,
    node: yaml.Node,
    path: Path_,
    source: str,
    file: str,
    marks: Marks,
    at: yaml.Mark | None = None,
) -> Any:
    # A mapping entry is located at its key, which is where a reader looks for a setting.
    marks[path] = _position(source, file, at or node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigSyntaxError(
                    _position(source, file, key_node.start_mark), "mapping keys must be scalars"
                )
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigSyntaxError(
                    _position(source, file, key_node.start_mark),
                    "merge keys (<<) are not supported",
                )
            key = str(loader.construct_object(key_node))
            if key in out:
                raise ConfigSyntaxError(
                    _position(source, file, key_node.start_mark), f"duplicate key {key!r}"
                )
            out[key] = _build(
                loader, value_node, (*path, key), source, file, marks, key_node.start_mark
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), source, file, marks)
            for i, item in enumerate(node.value)
        ]
    try:
        return loader.construct_object(node)
    except yaml.constructor.ConstructorError as e:
        raise ConfigSyntaxError(_position(source, file, node.start_mark), str(e.problem)) from e
