"""Reading every source of a node's config, in k3OS's order, into one validated NodeConfig.

Sources, later wins (paths are inside the root):
1. system config `/k3os/system/config.yaml`
2. the kernel command line (`--cmdline`, else `/proc/cmdline`)
3. local config `/var/lib/rancher/k3os/config.yaml`
4. data sources listed in `k3os.data_sources` of the sources above (meta-data, user-data)
5. `/var/lib/rancher/k3os/config.d/*`, in lexical order (dot-files skipped)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from k3os.config import cmdline as cmdline_source
from k3os.config import datasources
from k3os.config.errors import ConfigError, ConfigSchemaError, ConfigSyntaxError, Origin, Path_
from k3os.config.merge import Layer, Provenance, merge_layers
from k3os.config.schema import NodeConfig
from k3os.config.spelling import canonicalize
from k3os.config.yamlsource import parse_yaml

SYSTEM_CONFIG = "k3os/system/config.yaml"
LOCAL_CONFIG = "var/lib/rancher/k3os/config.yaml"
CONFIG_D = "var/lib/rancher/k3os/config.d"


def _origin_for(lookup: Provenance | Layer, path: Path_) -> Origin | None:
    if isinstance(lookup, Layer):
        return lookup.origin_at(path)
    for end in range(len(path), -1, -1):
        if path[:end] in lookup:
            return lookup[path[:end]]
        below = [o for p, o in lookup.items() if p[:end] == path[:end]]
        if below:
            return below[0]
    return None


def validate(data: dict[str, Any], where: Provenance | Layer) -> NodeConfig:
    """Validate canonical data; a failure names the source position, field path and expectation."""
    try:
        return NodeConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        path: Path_ = tuple(p for p in first["loc"] if isinstance(p, str | int))
        message = str(first["msg"]).removeprefix("Value error, ")
        more = e.error_count() - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigSchemaError(_origin_for(where, path), path, message) from e


def _strip_appends(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.removesuffix("+"): _strip_appends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_appends(v) for v in value]
    return value


def layer_from_text(text: str, *, source: str, file: str) -> Layer:
    """Parse, canonicalize and check one YAML source."""
    parsed, marks = parse_yaml(text, source=source, file=file)
    data, marks = canonicalize(parsed, marks, Origin(source, file))
    layer = Layer(source, data, marks)
    validate(_strip_appends(data), layer)
    return layer


def parse_config_file(path: str | Path, *, source: str | None = None) -> Layer:
    """Read one config file into a checked layer (raises ConfigError with file:line:column)."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        raise ConfigSyntaxError(Origin(source or str(path), str(path)), "not UTF-8 text") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    return layer_from_text(text, source=source or str(path), file=str(path))


def cmdline_layer(text: str) -> Layer:
    """The kernel command line as a checked layer."""
    parsed, marks = cmdline_source.parse_cmdline(text)
    data, marks = canonicalize(parsed, marks, Origin(cmdline_source.SOURCE))
    layer = Layer(cmdline_source.SOURCE, data, marks)
    validate(_strip_appends(data), layer)
    return layer


def _file_layer(root: Path, relative: str, source: str) -> list[Layer]:
    path = root / relative
    return [parse_config_file(path, source=source)] if path.is_file() else []


def _datasource_layers(root: Path, specs: Iterable[str], timeout: float) -> list[Layer]:
    for spec in specs:
        found = datasources.probe(spec, root, timeout=timeout)
        if found is not None:
            for layer in found:
                validate(_strip_appends(layer.data), layer)
            return found
    return []


def load_layers(
    root: str | Path, cmdline: str | None = None, *, timeout: float = 2.0
) -> list[Layer]:
    """Every source that is present, as checked layers in merge order."""
    root = Path(root)
    layers = _file_layer(root, SYSTEM_CONFIG, "system config")
    if cmdline is None:
        proc = root / "proc/cmdline"
        cmdline = proc.read_text() if proc.is_file() else ""
    layers.append(cmdline_layer(cmdline))
    layers += _file_layer(root, LOCAL_CONFIG, "local config")
    early, _ = merge_layers(layers)
    specs = early.get("k3os", {}).get("data_sources", [])
    layers += _datasource_layers(root, specs, timeout)
    config_d = root / CONFIG_D
    if config_d.is_dir():
        for path in sorted(config_d.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                layers.append(parse_config_file(path, source=f"config.d/{path.name}"))
    return [layer for layer in layers if layer.data]


def load_config(
    root: str | Path = "/", cmdline: str | None = None, *, timeout: float = 2.0
) -> tuple[NodeConfig, Provenance]:
    """The node's merged, validated config and, per value path, the source that set it."""
    data, provenance = merge_layers(load_layers(root, cmdline, timeout=timeout))
    return validate(data, provenance), provenance
