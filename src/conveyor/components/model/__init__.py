"""Model-stage components: Transform and Trainer."""

from conveyor.components.model.trainer import trainer
from conveyor.components.model.transform import transform

__all__ = ["trainer", "transform"]
