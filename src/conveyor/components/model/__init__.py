"""Model-stage components: Transform, Tuner, Trainer, and the gate to production: baseline
resolution, Evaluator, InfraValidator, ModelCard generator and Pusher."""

from conveyor.components.model.evaluator import evaluator
from conveyor.components.model.infra_validator import infra_validator
from conveyor.components.model.model_card import model_card_generator
from conveyor.components.model.pusher import latest_blessed_model, pusher
from conveyor.components.model.trainer import trainer
from conveyor.components.model.transform import transform
from conveyor.components.model.tuner import tuner

__all__ = [
    "evaluator",
    "infra_validator",
    "latest_blessed_model",
    "model_card_generator",
    "pusher",
    "trainer",
    "transform",
    "tuner",
]
