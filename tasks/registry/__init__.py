"""The MLflow side: tracking runs, registered models and their exported backends, champions and the promotion rule,
stored predictions. Imports no step and no kind."""
