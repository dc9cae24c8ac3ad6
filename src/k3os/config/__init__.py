"""Node config: the k3OS `config.yaml` schema, its sources, merge rules and validation.

Public API (everything else in this package is private):

- `load_config(root="/", cmdline=None, *, timeout=2.0) -> (NodeConfig, Provenance)`: read
  every source inside `root` in k3OS's order (system config, kernel command line, local
  config, data sources, `config.d/*`), merge them and validate. `cmdline` replaces
  `<root>/proc/cmdline`. Provenance maps each value's path (`("k3os", "labels", "site")`) to
  the `Origin` (source, file, line, column) that set it.
- `load_layers(root, cmdline=None)`: the same sources as a list of `Layer`s, unmerged.
- `parse_config_file(path) -> Layer`: one YAML file, canonicalized and checked;
  `layer_from_text(text, source=, file=)` does the same for text already read.
- `merge(base, overlay) -> dict`: pure merge of canonical data (objects by key, scalars and
  lists replace, `key+` appends); `merge_layers(layers) -> (dict, Provenance)`.
- `validate(data, provenance_or_layer) -> NodeConfig`.
- `parse_cmdline(text)` / `format_cmdline(settings)`: the kernel command line source.
- `json_schema()`, `dump_yaml(config)`, `dump_json(config)`, `explain(config, provenance)`.
- Errors: `ConfigError` > `ConfigSyntaxError` (file:line:column), `ConfigSchemaError`
  (field path and what was expected), `DataSourceError`.

Nothing here writes to disk or knows about Kubernetes; `k3os.host` applies a NodeConfig.
"""

from k3os.config.cmdline import format_cmdline, parse_cmdline
from k3os.config.errors import (
    ConfigError,
    ConfigSchemaError,
    ConfigSyntaxError,
    DataSourceError,
    Origin,
)
from k3os.config.load import (
    layer_from_text,
    load_config,
    load_layers,
    parse_config_file,
    validate,
)
from k3os.config.merge import Layer, Provenance, merge, merge_layers
from k3os.config.render import dump_json, dump_yaml, explain, json_schema, json_schema_text
from k3os.config.schema import (
    K3OS,
    PHASES,
    Bond,
    Install,
    Interface,
    Network,
    NodeConfig,
    Route,
    User,
    Vlan,
    Wifi,
    WriteFile,
)

__all__ = [
    "K3OS",
    "PHASES",
    "Bond",
    "ConfigError",
    "ConfigSchemaError",
    "ConfigSyntaxError",
    "DataSourceError",
    "Install",
    "Interface",
    "Layer",
    "Network",
    "NodeConfig",
    "Origin",
    "Provenance",
    "Route",
    "User",
    "Vlan",
    "Wifi",
    "WriteFile",
    "dump_json",
    "dump_yaml",
    "explain",
    "format_cmdline",
    "json_schema",
    "json_schema_text",
    "layer_from_text",
    "load_config",
    "load_layers",
    "merge",
    "merge_layers",
    "parse_cmdline",
    "parse_config_file",
    "validate",
]
