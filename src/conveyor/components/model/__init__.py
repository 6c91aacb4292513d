"""Model-stage components: Transform, Tuner, Trainer, Evaluator, baseline resolution, Pusher."""

from conveyor.components.model.evaluator import evaluator
from conveyor.components.model.pusher import latest_blessed_model, pusher
from conveyor.components.model.trainer import trainer
from conveyor.components.model.transform import transform
from conveyor.components.model.tuner import tuner

__all__ = ["evaluator", "latest_blessed_model", "pusher", "trainer", "transform", "tuner"]
