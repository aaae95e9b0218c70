"""Fine-tuning PCAN on mmengine/mmaction2 (configs, registration, metric, guard hooks) and synthetic data.

Importing ``training`` or ``training.cli`` does not import mmengine/mmaction; ``training.register`` does.
"""
