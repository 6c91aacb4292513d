"""Model-stage components: Transform, Tuner, Trainer, the gate to production: baseline
resolution, Evaluator, InfraValidator, ModelCard generator, OnnxExporter and Pusher, and the
BulkInferrer (batch scoring)."""

from conveyor.components.model.bulk_inferrer import bulk_inferrer
from conveyor.components.model.evaluator import evaluator
from conveyor.components.model.infra_validator import infra_validator
from conveyor.components.model.model_card import model_card_generator
from conveyor.components.model.onnx_exporter import onnx_exporter
from conveyor.components.model.pusher import latest_blessed_model, pusher
from conveyor.components.model.trainer import trainer
from conveyor.components.model.transform import transform
from conveyor.components.model.tuner import tuner

__all__ = [
    "bulk_inferrer",
    "evaluator",
    "infra_validator",
    "latest_blessed_model",
    "model_card_generator",
    "onnx_exporter",
    "pusher",
    "trainer",
    "transform",
    "tuner",
]
