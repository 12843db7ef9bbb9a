"""The names of what can run a registered version: eager PyTorch and its parity-checked exports. One list, read by
the params schema (`serve.backend`) and the CLI (`predict --backend`); it imports nothing so `lmforge --help` stays fast."""

BACKENDS = ("eager", "onnx", "onnx-int8", "torch-export")
