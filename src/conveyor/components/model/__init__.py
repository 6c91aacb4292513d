"""Model-stage components: Transform, Tuner and Trainer."""

from conveyor.components.model.trainer import trainer
from conveyor.components.model.transform import transform
from conveyor.components.model.tuner import tuner

__all__ = ["trainer", "transform", "tuner"]
