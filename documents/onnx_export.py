"""Exports the sentence-transformers model to ONNX; run as its own process by documents/embedding.py.

    python -m documents.onnx_export TARGET_FOLDER

torch (hundreds of MB) is imported here only, so the web and worker processes that need the export never hold it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import django
from django.conf import settings

from documents.embedding import EXPORT_FORMAT, get_model


def export(target: Path) -> None:
    """Export the sentence-transformers model (transformer, mean pooling, normalize) to target/ with torch.onnx.

    Needs torch and the onnx package; runs once per model (a file lock keeps the web and worker processes
    starting together from exporting it twice). Written to a scratch folder, then renamed into place.
    """
    import torch

    model = get_model()  # sentence-transformers, on torch: this process only
    modules = list(model)
    transformer, pooling = modules[0], modules[1] if len(modules) > 1 else None
    pooling_config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    if "pooling_mode" in pooling_config:  # sentence-transformers 6: one mode by name
        mean_only = pooling_config["pooling_mode"] == "mean"
    else:  # earlier: a flag per mode
        modes = {key for key, value in pooling_config.items() if key.startswith("pooling_mode_") and value is True}
        mean_only = modes == {"pooling_mode_mean_tokens"}
    normalized = len(modules) == 3 and type(modules[2]).__name__ == "Normalize"
    if not (hasattr(transformer, "auto_model") and mean_only and normalized):
        raise RuntimeError(f"{settings.EMBEDDING_MODEL} is not transformer + mean pooling + normalize")
    tokenizer = transformer.tokenizer
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in tokenizer.model_input_names]

    class Pooled(torch.nn.Module):
        def __init__(self, auto_model) -> None:
            super().__init__()
            self.auto_model = auto_model

        def forward(self, *tensors):
            named = dict(zip(inputs, tensors, strict=True))
            hidden = self.auto_model(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
        axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"embedding": {0: "batch"}}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes: the dynamic axes are given below
            torch.onnx.export(
                Pooled(transformer.auto_model).eval(),
                example,
                str(scratch / "model.onnx"),
                dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
                input_names=inputs,
                output_names=["embedding"],
                dynamic_axes=axes,
                opset_version=17,
            )
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # The quantizer logs a line per tensor straight to the root logger: kept out of the app's log.
        quiet = _DropRecordsFrom("onnxruntime")
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                str(scratch / "model.onnx"),
                str(scratch / "model.int8.onnx"),
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        tokenizer.backend_tokenizer.save(str(scratch / "tokenizer.json"))
        meta = {
            "model": settings.EMBEDDING_MODEL,
            "format": EXPORT_FORMAT,
            "dimensions": model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension(),
            "max_seq_length": model.max_seq_length,
            "inputs": inputs,
            "torch": torch.__version__,
        }
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1))
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package

    def filter(self, record: logging.LogRecord) -> bool:
        return f"/{self.package}/" not in record.pathname


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    django.setup()
    export(Path(sys.argv[1]))


if __name__ == "__main__":
    main()
