"""Config as code: a workspace's sources, models, destinations and syncs in YAML files.

``load_config`` reads the files, ``build_plan`` compares them with the workspace and
``apply_plan`` makes the workspace match, through the same services as the API.
"""

from syncline.config.apply import ApplyError, apply_plan
from syncline.config.errors import ConfigError, Origin
from syncline.config.loader import Config, load_config
from syncline.config.plan import Action, Plan, build_plan

__all__ = [
    "Action",
    "ApplyError",
    "Config",
    "ConfigError",
    "Origin",
    "Plan",
    "apply_plan",
    "build_plan",
    "load_config",
]
