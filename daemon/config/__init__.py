"""Load the daemon's YAML config into the typed `Settings`, strictly.

A config file is edited by hand on a device, usually over SSH, and the daemon runs
unattended afterwards: a typo that silently falls back to a default (``sourse:``, a
port written as ``"1883"``, a second ``mqtt:`` block that replaces the first) costs
far more than a refusal to start. So every key must be known, every value must have
the right type and range, and every problem is one line that names the file and the
dotted key (``config /etc/genred/config.yaml: mqtt.port: must be ...``).

What each key accepts is declared in `genred.daemon.settings` and checked by msgspec;
a new key needs no code here. The modules:

load.py       `load_settings`: the file, the command line's overrides, the conversion
yaml_file.py  the file's YAML, read strictly (a key given twice is refused)
errors.py     `ConfigError` and msgspec's errors in the config's words (secrets masked)
rules.py      rules between fields, printable text, the MQTT topics' length
password.py   `resolve_password`: mqtt.password or the file that holds it
check.py      `check_config` (`genred check-config`): the effective settings, and
              opening what `genred run` opens
"""

from __future__ import annotations

from .check import check_config, settings_dict
from .errors import COMMAND_LINE, ConfigError
from .load import DEFAULT_CONFIG_PATH, load_settings
from .password import resolve_password

__all__ = [
    "COMMAND_LINE", "DEFAULT_CONFIG_PATH", "ConfigError", "check_config", "load_settings", "resolve_password",
    "settings_dict",
]
